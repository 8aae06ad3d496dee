// A worker thread that renders demo PNGs (CPU-bound), so the server's event loop stays free.
import { parentPort } from 'node:worker_threads';
import { renderDemoPng } from './demo-media.ts';

export interface RenderRequest {
  id: number;
  width: number;
  height: number;
  seed: number;
}

parentPort?.on('message', (request: RenderRequest) => {
  try {
    const png = renderDemoPng(request.width, request.height, request.seed);
    const bytes = new Uint8Array(png.byteLength);
    bytes.set(png);
    parentPort?.postMessage({ id: request.id, bytes }, [bytes.buffer]);
  } catch (error) {
    parentPort?.postMessage({
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
});
