import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testInner } from '../../test/context.ts';
import { createTestDb, type TestDb } from '../../test/db.ts';
import { createApp } from '../app.ts';
import { createHttpServer } from './server.ts';

/** Opens a raw connection, sends `head`, then one byte every `dripMs`; resolves with what came back and when. */
function slowClient(port: number, head: string, dripMs: number) {
  const started = Date.now();
  return new Promise<{ answer: string; afterMs: number }>((resolve) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    const drip = setInterval(() => socket.writable && socket.write('x'), dripMs);
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ answer, afterMs: Date.now() - started });
    });
  });
}

describe('the HTTP server against slow clients', () => {
  let t: TestDb;
  let port: number;
  let close: () => Promise<void>;

  beforeAll(async () => {
    t = await createTestDb('sqlite');
    const server = createHttpServer(createApp(testInner(t.db)), {
      headersTimeout: 400,
      requestTimeout: 800,
      connectionsCheckingInterval: 100,
    }).listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
    close = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  });
  afterAll(async () => {
    await close();
    await t.destroy();
  });

  it('answers 408 and closes a request whose body trickles in past the request timeout', async () => {
    const { answer, afterMs } = await slowClient(
      port,
      'POST /trpc/auth.signIn HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      100,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(afterMs).toBeGreaterThanOrEqual(700);
    expect(afterMs).toBeLessThan(3_000);
  });

  it('closes a connection whose headers never end, after the headers timeout', async () => {
    const { answer, afterMs } = await slowClient(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 100);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(afterMs).toBeLessThan(2_000);
  });

  it('still serves a request sent at a normal pace', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
  });
});
