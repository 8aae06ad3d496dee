// The gallery benchmarks' HTTP client, in a process of its own (forked by `startGalleryClient` in
// app.ts): its reading and parsing of each answer stays out of the server's event loop and heap, as a
// browser's would. Each batch of GETs runs one at a time over one kept-alive connection.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { answerParent } from '../child.ts';

export interface ClientBatch {
  baseUrl: string;
  requests: { path: string; headers: Record<string, string> }[];
}

export interface ClientAnswer {
  times: number[];
  items: number[];
}

/**
 * GET `path` on the app over one kept-alive connection, with node:http: fetch's own streams, signals and header
 * objects cost about as much as the server's request path.
 */
export function httpGetter(baseUrl: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`${baseUrl}${path}`, { agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
}

const getters = new Map<string, ReturnType<typeof httpGetter>>();

answerParent(async (batch: ClientBatch): Promise<ClientAnswer> => {
  let get = getters.get(batch.baseUrl);
  if (!get) {
    get = httpGetter(batch.baseUrl);
    getters.set(batch.baseUrl, get);
  }
  const times: number[] = [];
  const items: number[] = [];
  for (const request of batch.requests) {
    const t0 = performance.now();
    const res = await get(request.path, request.headers);
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`${request.path} answered ${res.status}: ${res.body}`);
    const json = JSON.parse(res.body) as { result?: { data?: { json?: { items?: unknown[] } } } };
    items.push(json.result?.data?.json?.items?.length ?? 0);
  }
  return { times, items };
});
