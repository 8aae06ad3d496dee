// The app both gallery tools measure: the real HTTP server on a free port, on the bench database, with a
// throw-away DATA_DIR. `close()` stops it and removes the folder (the database stays for --reuse).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { createInnerContext } from '../../server/deps.ts';
import { parseEnv } from '../../server/env.ts';
import { systemClock } from '../../server/services/clock.ts';
import { startTestServer } from '../../test/http.ts';
import { forkChild } from '../child.ts';
import type { ClientAnswer, ClientBatch } from './client.ts';

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
 * The HTTP client in its own process (client.ts): `get(requests)` runs them one at a time and gives each
 * one's milliseconds, from sending to the last byte, and the number of items in its answer.
 */
export function startGalleryClient(baseUrl: string) {
  const child = forkChild<ClientBatch, ClientAnswer>(new URL('./client.ts', import.meta.url));
  return {
    get: (requests: ClientBatch['requests']) => child.ask({ baseUrl, requests }),
    close: child.close,
  };
}
