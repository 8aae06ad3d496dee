// The app both gallery tools measure: the real HTTP server on a free port, on the bench database, with a
// throw-away DATA_DIR. `close()` stops it and removes the folder (the database stays for --reuse).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { createInnerContext } from '../../server/deps.ts';
import { parseEnv } from '../../server/env.ts';
import { systemClock } from '../../server/services/clock.ts';
import { startTestServer } from '../../test/http.ts';

export async function startGalleryApp(db: Kysely<Database>, databaseUrl: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-bench-gallery-'));
  const env = parseEnv({
    DATA_DIR: dir,
    APP_SECRET: 'bench-gallery-secret-bench-gallery-secret',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
  });
  const server = await startTestServer(createInnerContext(env, db, systemClock));
  return {
    url: server.url,
    close: async () => {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * GET `path` on the app over one kept-alive connection, with node:http: the figures are the server's
 * request path, and fetch's own streams, signals and header objects (as much again, in the same
 * process and event loop) would be counted in them.
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
