import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDb, DIALECTS } from '../../../test/db.ts';
import { httpClient } from '../../../test/http.ts';
import { type ServerProcess, startServerProcess } from '../../../test/server-process.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** The process's exit code once it has stopped on `signal`. */
async function stopped(server: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const exit = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
  server.child.kill(signal);
  return exit;
}

describe.runIf(DIALECTS.includes('mysql'))(
  'ROLE=all on MariaDB: the job runner on a thread of its own',
  () => {
    it('generates, serves the files, counts the thread’s jobs in /metrics and stops cleanly, leases handed back', async () => {
      const t = await createTestDb('mysql');
      cleanups.push(() => t.destroy());
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-runner-thread-'));
      const server = await startServerProcess({ DATABASE_URL: t.url, DATA_DIR: dataDir, DEMO_DELAY_MS: '0' });
      cleanups.push(() => server.stop('SIGKILL'));
      expect(server.log()).toMatch(/"msg":"listening".*"runner":"thread"/);

      const client = httpClient(server.url);
      await client.auth.signUp.mutate({ email: 'thread@example.com', password: 'sturdy-pass-1' });
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          client.ai.generateImage.mutate({ prompt: `lantern ${i}`, size: '512x512' }),
        ),
      );
      expect(answers.map((a) => a.job.status)).toEqual(Array(6).fill('succeeded'));
      const file = await fetch(new URL(answers[0]!.outputs[0]!.url, server.url));
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toBe('image/png');

      // Queued here (main thread), submitted and succeeded there (runner thread): one set of counts.
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const count = (transition: string) =>
        Number(
          new RegExp(
            `^df_job_transitions_total\\{transition="${transition}",model="demo-image"[^}]*\\} (\\d+)`,
            'm',
          ).exec(metrics)?.[1] ?? 0,
        );
      expect([count('queued'), count('submitted'), count('succeeded')]).toEqual([6, 6, 6]);
      expect(metrics.match(/^process_start_time_seconds /gm)).toHaveLength(1);
      expect(metrics).toMatch(/^df_database_up 1$/m);

      // A video is followed to its end while the process runs, then SIGTERM: a clean stop.
      const { job } = await client.ai.generateVideo.mutate({
        prompt: 'a short one',
        durationSeconds: 2,
      } as never);
      const end = Date.now() + 30_000;
      let status = job.status;
      while (!['succeeded', 'failed'].includes(status) && Date.now() < end) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = (await client.jobs.get.query({ id: job.id })).job.status;
      }
      expect(status).toBe('succeeded');
      expect(await stopped(server)).toBe(0);
      expect(server.log()).toMatch(/"msg":"stopped"/);
      const leased = await t.db
        .selectFrom('jobs')
        .select('id')
        .where('lease_owner', 'is not', null)
        .execute();
      expect(leased).toEqual([]);
    }, 90_000);

    it('RUNNER_THREAD=false keeps the runner on the main thread', async () => {
      const t = await createTestDb('mysql');
      cleanups.push(() => t.destroy());
      const server = await startServerProcess({
        DATABASE_URL: t.url,
        DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'df-runner-here-')),
        DEMO_DELAY_MS: '0',
        RUNNER_THREAD: 'false',
      });
      cleanups.push(() => server.stop('SIGKILL'));
      expect(server.log()).toMatch(/"msg":"listening".*"runner":"main thread"/);
      const client = httpClient(server.url);
      await client.auth.signUp.mutate({ email: 'here@example.com', password: 'sturdy-pass-1' });
      expect((await client.ai.generateImage.mutate({ prompt: 'here', size: '512x512' })).job.status).toBe(
        'succeeded',
      );
      expect(await stopped(server)).toBe(0);
    }, 60_000);
  },
);
