import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../test/db.ts';
import { httpClient } from '../test/http.ts';
import { mysqlBehindProxy } from '../test/proxy.ts';
import { startServerProcess } from '../test/server-process.ts';

describe('the server process', () => {
  it('starts on embedded defaults, and on SIGTERM stops accepting but finishes the request in flight', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-process-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        DATA_DIR: dataDir,
        DEMO_DELAY_MS: '1200',
        LOG_LEVEL: 'info',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" line in: ${log}`)), 30_000);
        child.stderr.on('data', () => {
          const match = /"msg":"listening","url":"(http:\/\/[^"]+)"/.exec(log);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true, db: 'up' });
      expect(fs.existsSync(path.join(dataDir, 'dream-factory.sqlite'))).toBe(true);
      // What Node refuses before any handler is a JSON VALIDATION error here too.
      const tooLong = await fetch(`${url}/trpc/ai.models?input=${'x'.repeat(20_000)}`);
      expect(tooLong.status).toBe(431);
      expect((await tooLong.json()).error.json.data.appCode).toBe('VALIDATION');

      const client = httpClient(url);
      await client.auth.signUp.mutate({ email: 'shutdown@example.com', password: 'sturdy-pass-1' });
      const inFlight = client.ai.generateImage.mutate({ prompt: 'finish me', size: '512x512' });
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');

      const { job, outputs } = await inFlight;
      expect(job.status).toBe('succeeded');
      expect(outputs).toHaveLength(1);
      expect(await exited).toBe(0);
      expect(log).toContain('"msg":"stopped"');
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('cuts open job watches on SIGTERM and stops at once, so their clients reconnect elsewhere', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-process-'));
    const server = await startServerProcess({ DATA_DIR: dataDir, DEMO_DELAY_MS: '120000', DATABASE_URL: '' });
    try {
      const cookies = new Map<string, string>();
      const client = httpClient(server.url, { cookies });
      await client.auth.signUp.mutate({ email: 'watcher@example.com', password: 'sturdy-pass-1' });
      const { job } = await client.ai.generateVideo.mutate({ prompt: 'a long one', durationSeconds: 2 });
      const input = encodeURIComponent(JSON.stringify(superjson.serialize({ id: job.id })));
      const res = await fetch(`${server.url}/trpc/jobs.watch?input=${input}`, {
        headers: {
          cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          accept: 'text/event-stream',
        },
      });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toContain(job.id);
      const started = Date.now();
      const ended = (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {} // cut: what a client sees as a lost connection, and retries
      })();
      await server.stop();
      await ended;
      // Without the cut the process waits out its 15 s grace for the open stream.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await server.stop('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.runIf(DIALECTS.includes('mysql'))(
    'on SIGTERM while the database does not answer, exits within its 25 s deadline instead of hanging',
    async () => {
      // MariaDB behind a proxy that can stop forwarding, as a network partition does.
      const { url, proxy, destroy } = await mysqlBehindProxy();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-process-'));
      const server = await startServerProcess({ DATABASE_URL: url, DATA_DIR: dataDir });
      try {
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        proxy.freeze();
        await new Promise((r) => setTimeout(r, 1_500));
        const exited = new Promise<number | null>((resolve) =>
          server.child.once('exit', (code) => resolve(code)),
        );
        const started = Date.now();
        server.child.kill('SIGTERM');
        expect(await exited).toBe(1);
        expect(Date.now() - started).toBeLessThan(28_000);
      } finally {
        server.child.kill('SIGKILL');
        await destroy();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
