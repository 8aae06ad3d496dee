// The app both gallery tools measure: the real HTTP server on a free port, on the bench database, with a
// throw-away DATA_DIR. `close()` stops it and removes the folder (the database stays for --reuse).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { createInnerContext } from '../../server/deps.ts';
import { parseEnv } from '../../server/env.ts';
import { systemClock } from '../../server/services/clock.ts';
import { startTestServer } from '../../test/http.ts';
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
  const child = fork(new URL('./client.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const waiting = new Map<number, (answer: ClientAnswer) => void>();
  child.on('message', (answer: ClientAnswer) => waiting.get(answer.id)?.(answer));
  return {
    get: (requests: ClientBatch['requests']) =>
      new Promise<{ times: number[]; items: number[] }>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, (answer) => {
          waiting.delete(id);
          if ('error' in answer) reject(new Error(answer.error));
          else resolve(answer);
        });
        child.send({ id, baseUrl, requests } satisfies ClientBatch);
      }),
    close: () => {
      child.kill();
    },
  };
}
