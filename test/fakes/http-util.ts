import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a fake saw it (the Authorization header is kept so tests can check it was sent). */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': randomUUID(),
    ...headers,
  });
  res.end(text);
};

export const sendBytes = (res: ServerResponse, contentType: string, bytes: Buffer) => {
  res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
  res.end(bytes);
};

/** Starts a node:http server on a random loopback port; `close()` also drops hanging connections. */
export const listen = async (
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>,
): Promise<{ url: string; close(): Promise<void> }> => {
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { code: 'FakeServerError', message: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
};

/** A counter of "the next N requests" behaviours (throttle, fail, hang). */
export class Countdown<T> {
  private remaining = 0;
  private value: T | undefined;
  arm(times: number, value: T) {
    this.remaining = times;
    this.value = value;
  }
  /** The armed value if this request is one of the next N, else undefined. */
  take(): T | undefined {
    if (this.remaining <= 0) return undefined;
    this.remaining--;
    return this.value;
  }
}

/** DashScope's time format: "YYYY-MM-DD HH:mm:ss.SSS". */
export const dashScopeTime = (date = new Date()): string =>
  date.toISOString().replace('T', ' ').replace('Z', '');
