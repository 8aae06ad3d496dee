import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { extended } from '../../shared/objects.ts';
import {
  type DemoLayout,
  type DemoLayoutCache,
  demoLayoutIndex,
  demoLayoutKey,
  demoLayouts,
  paintDemoPng,
} from './demo-media.ts';
import type { LayoutReply, LayoutRequest } from './demo-render-worker.ts';

/**
 * Where the worker script is, next to this module: `demo-render-worker.js` when the server runs
 * compiled (tsc → dist/), `demo-render-worker.ts` when it runs from source under tsx; a worker thread
 * does not inherit tsx's loader, so from source it boots through tsx's `tsImport`.
 */
export function workerEntry(moduleUrl: string = import.meta.url): { url: URL; fromSource: boolean } {
  const fromSource = new URL(moduleUrl).pathname.endsWith('.ts');
  return { url: new URL(`./demo-render-worker.${fromSource ? 'ts' : 'js'}`, moduleUrl), fromSource };
}

function startWorker(): Worker {
  const { url, fromSource } = workerEntry();
  if (!fromSource) return new Worker(url);
  // The ESM build of tsx's API (require.resolve finds its CommonJS twin next to it).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(api).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}));`;
  return new Worker(boot, { eval: true });
}

interface Slot {
  worker: Worker;
  busy: number;
}

type Pending = { resolve: (layout: DemoLayout) => void; reject: (error: Error) => void; slot: Slot };

/**
 * Renders demo PNGs (see `renderDemoPng`, same bytes) with the costly part, a size's layouts, on worker
 * threads. A PNG whose layout is in this thread's cache (`demoLayouts` unless given another) is painted
 * here at once, in tens of microseconds, with no thread involved. Otherwise a thread renders the layout
 * (one render for all the PNGs waiting on it), hands it over, and it is cached here and painted. Threads
 * start on first need (an idle server starts none, nor one whose layouts are all cached), at most `size`
 * of them; each takes one layout at a time from a shared queue. Idle threads do not keep the process
 * alive.
 */
export class DemoRenderPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: { request: LayoutRequest; pending: Omit<Pending, 'slot'> }[] = [];
  /** Layouts a thread is rendering, by `demoLayoutKey`. */
  private readonly rendering = new Map<string, Promise<DemoLayout>>();
  private nextId = 1;

  constructor(
    private readonly size = Math.max(1, Math.min(4, os.availableParallelism())),
    private readonly layouts: DemoLayoutCache = demoLayouts,
  ) {}

  /** Threads started so far. */
  get threads(): number {
    return this.slots.length;
  }

  async renderPng(width: number, height: number, seed: number): Promise<Buffer> {
    const index = demoLayoutIndex(seed);
    const layout = this.layouts.get(width, height, index) ?? (await this.renderLayout(width, height, index));
    return paintDemoPng(layout, seed);
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  /** The layout from a thread, cached here; a layout already on its way is waited for, not rendered again. */
  private renderLayout(width: number, height: number, index: number): Promise<DemoLayout> {
    const key = demoLayoutKey(width, height, index);
    let layout = this.rendering.get(key);
    if (!layout) {
      layout = new Promise<DemoLayout>((resolve, reject) => {
        this.queue.push({
          request: { id: this.nextId++, width, height, index },
          pending: { resolve, reject },
        });
        this.pump();
      })
        .then((rendered) => {
          this.layouts.set(rendered);
          return rendered;
        })
        .finally(() => this.rendering.delete(key));
      this.rendering.set(key, layout);
    }
    return layout;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === 0);
      if (!slot && this.slots.length < this.size) slot = this.start();
      if (!slot) return;
      const { request, pending } = this.queue.shift()!;
      slot.busy++;
      slot.worker.ref();
      this.pending.set(request.id, extended(pending, { slot }));
      slot.worker.postMessage(request);
    }
  }

  private start(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (message: LayoutReply) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      this.settle(slot);
      if ('layout' in message) pending.resolve(message.layout);
      else pending.reject(new Error(message.error || 'demo render failed'));
    });
    worker.on('error', (error) => this.fail(slot, error));
    worker.on('exit', (code) => {
      if (code !== 0) this.fail(slot, new Error(`demo render thread exited with ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  private settle(slot: Slot): void {
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
    this.pump();
  }

  /** A thread died: fail what it held, forget it, and let the next render start a fresh one. */
  private fail(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    for (const [id, pending] of this.pending) {
      if (pending.slot !== slot) continue;
      this.pending.delete(id);
      pending.reject(error);
    }
    this.pump();
  }
}
