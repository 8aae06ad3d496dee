import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RenderRequest } from './demo-render-worker.ts';

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

type Pending = { resolve: (bytes: Buffer) => void; reject: (error: Error) => void; slot: Slot };

/**
 * Renders demo PNGs on worker threads, started on first use (an idle server starts none) and at most
 * `size` of them; each takes one render at a time from a shared queue. Idle threads do not keep the
 * process alive.
 */
export class DemoRenderPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: { request: RenderRequest; pending: Omit<Pending, 'slot'> }[] = [];
  private nextId = 1;

  constructor(private readonly size = Math.max(1, Math.min(4, os.availableParallelism()))) {}

  /** Threads started so far. */
  get threads(): number {
    return this.slots.length;
  }

  renderPng(width: number, height: number, seed: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, width, height, seed }, pending: { resolve, reject } });
      this.pump();
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === 0);
      if (!slot && this.slots.length < this.size) slot = this.start();
      if (!slot) return;
      const { request, pending } = this.queue.shift()!;
      slot.busy++;
      slot.worker.ref();
      this.pending.set(request.id, { ...pending, slot });
      slot.worker.postMessage(request);
    }
  }

  private start(): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (message: { id: number; bytes?: Uint8Array; error?: string }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      this.settle(slot);
      if (message.bytes)
        pending.resolve(
          Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength),
        );
      else pending.reject(new Error(message.error ?? 'demo render failed'));
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
