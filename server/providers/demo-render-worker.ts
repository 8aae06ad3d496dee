// A worker thread that renders demo image layouts (the geometry of a demo PNG: 2–5 ms of CPU at 512×512,
// see `renderDemoLayout`), so the server's event loop stays free. It keeps none: each goes to the main
// thread, which caches it and paints it in each seed's colours itself.
import { parentPort } from 'node:worker_threads';
import { type DemoLayout, renderDemoLayout } from './demo-media.ts';

export interface LayoutRequest {
  id: number;
  width: number;
  height: number;
  /** Which of the size's layouts (see `demoLayoutIndex`). */
  index: number;
}

export type LayoutReply = { id: number; layout: DemoLayout } | { id: number; error: string };

parentPort?.on('message', (request: LayoutRequest) => {
  try {
    const layout = renderDemoLayout(request.width, request.height, request.index);
    // Its arrays own their buffers: they move to the main thread without a copy.
    const { head, tail, alpha, entryU, entryCover } = layout;
    parentPort?.postMessage({ id: request.id, layout } satisfies LayoutReply, [
      head.buffer,
      tail.buffer,
      alpha.buffer,
      entryU.buffer,
      entryCover.buffer,
    ]);
  } catch (error) {
    parentPort?.postMessage({
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    } satisfies LayoutReply);
  }
});
