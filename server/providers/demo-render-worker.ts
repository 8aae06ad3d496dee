// A worker thread that makes demo PNGs whole: the layout (the geometry: 2–5 ms of CPU at 512×512, see
// `renderDemoLayout`), kept in this thread's `demoLayouts` for the next PNG that picks it, the palette
// painted from the seed, and the PNG's SHA-256 and MD5, which persist and the OSS upload would otherwise
// compute on the server's event loop. The PNG moves to the main thread without a copy.
import { hash } from 'node:crypto';
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { renderDemoPng } from './demo-media.ts';
import { RENDER_THREAD_NICENESS } from './demo-render-pool.ts';
import type { ContentDigests } from './provider.ts';

export interface PaintRequest {
  id: number;
  width: number;
  height: number;
  seed: number;
}

export type PaintReply =
  | { id: number; png: Uint8Array<ArrayBuffer>; digests: ContentDigests }
  | { id: number; error: string };

// A render thread yields the CPU to the event loop. A server is bound by its event loop, the one thread
// every request, step and upload runs on: a PNG that takes a CPU the event loop was ready to run on makes
// every caller wait, while the PNG itself can wait a few hundred µs. On Linux a thread's nice value is its
// own (`setPriority` with no pid acts on the calling thread); on other systems it would lower the whole
// process, so there the thread keeps the process's priority. Lowering one's own priority needs no rights.
// Only as a render thread: a module that imports this one (for its types) keeps its priority.
if (parentPort && process.platform === 'linux') {
  try {
    os.setPriority(Math.min(19, os.getPriority() + RENDER_THREAD_NICENESS));
  } catch {
    // A sandbox that refuses it: the thread runs at the process's priority, as before.
  }
}

parentPort?.on('message', (request: PaintRequest) => {
  try {
    const png = renderDemoPng(request.width, request.height, request.seed);
    const reply: PaintReply = {
      id: request.id,
      png: png as Uint8Array<ArrayBuffer>,
      digests: { sha256: hash('sha256', png, 'hex'), md5: hash('md5', png, 'base64') },
    };
    // A PNG with a buffer of its own moves; a small one cut from Node's shared pool is copied.
    const owned = png.byteOffset === 0 && png.buffer.byteLength === png.byteLength;
    parentPort?.postMessage(reply, owned ? [png.buffer as ArrayBuffer] : []);
  } catch (error) {
    parentPort?.postMessage({
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    } satisfies PaintReply);
  }
});
