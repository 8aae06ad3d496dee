// The production path: the built server (dist/) started with plain node from a folder whose node_modules
// holds only the runtime dependencies (no tsx, vite, typescript, vitest), walking one demo generation.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const METRICS_TOKEN = 'metrics-secret-for-tests';
/** Development-only tools the production tree must do without (tsx is listed in dependencies today). */
const LEFT_OUT = new Set(['tsx']);

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

/** dist/ as `npm run build` makes it: reused when fresh, built otherwise. */
async function ensureBuilt(): Promise<void> {
  const { buildState } = (await import(path.join(ROOT, 'scripts/launcher.mjs'))) as {
    buildState: () => string;
  };
  if (buildState() !== 'fresh')
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
}

/** A copy of dist/ and package.json with node_modules holding links to the runtime dependencies only. */
function productionTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-prod-'));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(path.join(ROOT, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const name of Object.keys(pkg.dependencies)) {
    if (LEFT_OUT.has(name)) continue;
    const target = path.join(dir, 'node_modules', name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules', name)), target, 'dir');
  }
  return dir;
}

interface Started {
  url: string;
  child: ChildProcess;
  output: () => string;
  lines: () => Record<string, unknown>[];
}

async function startBuilt(dir: string, env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  let output = '';
  const started = Date.now();
  const { NODE_PATH: _unused, ...parentEnv } = process.env;
  const child = spawn(process.execPath, ['dist/server/index.js'], {
    cwd: dir,
    env: {
      ...parentEnv,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      PUBLIC_URL: `http://localhost:${port}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() - started > 30_000) throw new Error(`server did not become healthy:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { url, child, output: () => output, lines };
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });

/** One tRPC call over plain HTTP (superjson envelope), as any HTTP client would make it. */
async function call(
  url: string,
  procedure: string,
  input: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; data: any; headers: Headers }> {
  const res = await fetch(`${url}/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ json: input }),
  });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: unknown };
  return { status: res.status, data: body.result?.data.json ?? body.error, headers: res.headers };
}

const metricValue = (text: string, name: string, labels: Record<string, string> = {}): number => {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
};

describe('the built server on a production install', () => {
  let dir: string;
  let server: Started;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-prod-data-'));

  beforeAll(async () => {
    await ensureBuilt();
    dir = productionTree();
    server = await startBuilt(dir, { DATA_DIR: dataDir, DEMO_DELAY_MS: '100', METRICS_TOKEN });
  }, 300_000);

  afterAll(async () => {
    if (server) await stop(server.child);
  });

  it('cannot reach the development tools from its folder', () => {
    for (const tool of ['tsx', 'vite', 'typescript', 'vitest']) {
      expect(() =>
        execFileSync(process.execPath, ['-e', `require.resolve(${JSON.stringify(tool)})`], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '' },
          stdio: 'pipe',
        }),
      ).toThrow();
    }
    // …while the runtime dependencies resolve.
    execFileSync(process.execPath, ['-e', 'require.resolve("express"); require.resolve("kysely")'], {
      cwd: dir,
      stdio: 'pipe',
    });
  });

  it('walks one demo generation with request ids in the request and job lines, and counts it', async () => {
    const before = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    }).then((r) => r.text());

    const signUp = await call(server.url, 'auth.signUp', {
      email: 'ops@example.com',
      password: 'correct horse battery',
    });
    expect(signUp.status).toBe(200);
    const cookie = signUp.headers.getSetCookie()[0]!.split(';')[0]!;

    const requestId = 'test-req-0123456789';
    const generated = await call(
      server.url,
      'ai.generateImage',
      { prompt: 'a lighthouse at dusk', seed: 7 },
      { cookie, 'x-request-id': requestId },
    );
    expect(generated.status).toBe(200);
    expect(generated.headers.get('x-request-id')).toBe(requestId);
    const { job, outputs } = generated.data as {
      job: { id: string; status: string };
      outputs: { url: string }[];
    };
    expect(job.status).toBe('succeeded');
    // PUBLIC_URL makes local storage URLs absolute.
    const outputUrl = outputs[0]!.url;
    expect(outputUrl.startsWith(`http://localhost:${new URL(server.url).port}/files/`)).toBe(true);
    const file = await fetch(outputUrl.replace('localhost', '127.0.0.1'));
    expect(file.status).toBe(200);
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');

    // The request line and the job lines of that request carry the same id.
    await new Promise((r) => setTimeout(r, 100));
    const lines = server.lines();
    const requestLine = lines.find((l) => l.msg === 'request' && l.requestId === requestId);
    expect(requestLine).toMatchObject({
      method: 'POST',
      procedure: 'ai.generateImage',
      status: 200,
      userId: expect.any(String),
    });
    expect(typeof requestLine?.ms).toBe('number');
    const jobLines = lines.filter((l) => l.jobId === job.id);
    expect(jobLines.map((l) => l.msg)).toEqual(['job queued', 'job submitted', 'job succeeded']);
    for (const line of jobLines) {
      expect(line).toMatchObject({
        requestId,
        userId: requestLine?.userId,
        provider: 'demo',
        model: 'demo-image',
      });
    }
    expect(jobLines[2]?.durationMs).toEqual(expect.any(Number));

    const after = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    }).then((r) => r.text());
    const succeeded = { transition: 'succeeded', model: 'demo-image' };
    expect(metricValue(after, 'df_job_transitions_total', succeeded)).toBe(
      metricValue(before, 'df_job_transitions_total', succeeded) + 1,
    );
    expect(metricValue(after, 'df_credits_total', { kind: 'charge' })).toBeGreaterThan(
      metricValue(before, 'df_credits_total', { kind: 'charge' }),
    );
    expect(metricValue(after, 'df_upload_bytes_total', { storage: 'local' })).toBeGreaterThan(
      metricValue(before, 'df_upload_bytes_total', { storage: 'local' }),
    );
    expect(
      metricValue(after, 'df_http_request_duration_seconds_count', { procedure: 'ai.generateImage' }),
    ).toBe(1);
    expect(after).toMatch(/^df_queue_depth 0$/m);
  });

  it('logs and counts a failed job and its refund', async () => {
    const signIn = await call(server.url, 'auth.signIn', {
      email: 'ops@example.com',
      password: 'correct horse battery',
    });
    const cookie = signIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const failed = await call(
      server.url,
      'ai.generateImage',
      { prompt: 'a storm [demo:fail]' },
      { cookie, 'x-request-id': 'test-req-failing' },
    );
    expect(failed.status).toBeGreaterThanOrEqual(400);
    await new Promise((r) => setTimeout(r, 100));
    const lines = server.lines().filter((l) => l.requestId === 'test-req-failing');
    const jobLines = lines.filter((l) => typeof l.jobId === 'string');
    expect(jobLines.map((l) => l.msg)).toEqual(['job queued', 'job submitted', 'job refunded', 'job failed']);
    expect(jobLines.at(-1)).toMatchObject({ level: 'warn', code: 'PROVIDER_FAILED' });
    expect(jobLines.find((l) => l.msg === 'job refunded')?.amount).toEqual(expect.any(Number));
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ procedure: 'ai.generateImage' });
    const metrics = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    }).then((r) => r.text());
    expect(
      metricValue(metrics, 'df_job_transitions_total', { transition: 'failed', code: 'PROVIDER_FAILED' }),
    ).toBe(1);
    expect(metricValue(metrics, 'df_credits_total', { kind: 'refund' })).toBeGreaterThan(0);
  });

  it('asks for the metrics token, and answers unknown API paths with a JSON 404', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    for (const p of ['/metricsx', '/api/v1/jobs', '/trpcx/ai.models', '/healthzz', '/assets/missing.js']) {
      const res = await fetch(`${server.url}${p}`);
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type'), p).toMatch(/json/);
    }
    expect((await fetch(`${server.url}/trpc/ai.nope`)).status).toBe(404);
    // The SPA still owns its own routes; any other page path gets its HTML (its "page not found") as a 404.
    for (const p of ['/create', '/gallery/', '/admin/codes', '/verify-email?token=x']) {
      const page = await fetch(`${server.url}${p}`);
      expect(page.status, p).toBe(200);
      expect(page.headers.get('content-type'), p).toMatch(/html/);
    }
    for (const p of ['/history', '/admin/nope', '/admin/users/1']) {
      const missing = await fetch(`${server.url}${p}`);
      expect(missing.status, p).toBe(404);
      expect(missing.headers.get('content-type'), p).toMatch(/html/);
      expect(await missing.text(), p).toContain('<div id="root">');
    }
  });

  it('npm start there runs what is built and never tries to build, even with newer sources', async () => {
    const stamp = fs.statSync(path.join(dir, 'dist/.build-stamp')).mtimeMs;
    fs.mkdirSync(path.join(dir, 'server'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'server/index.ts'), '// newer than the build');
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: '0',
        DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'df-prod-start-')),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (c) => {
      output += c;
    });
    const deadline = Date.now() + 30_000;
    let url = '';
    while (!url && Date.now() < deadline && child.exitCode === null) {
      url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1] ?? '';
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(output).toContain('the build tools are not installed; running the existing build');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await stop(child)).toBe(0);
    expect(fs.statSync(path.join(dir, 'dist/.build-stamp')).mtimeMs).toBe(stamp);
  });

  it('shuts down on SIGTERM', async () => {
    const code = await stop(server.child);
    expect(code).toBe(0);
    expect(server.output()).toContain('"msg":"stopped"');
  });
});

describe('npm start on a built tree', () => {
  beforeAll(ensureBuilt, 300_000);

  it('npm start runs the server in its own process: SIGTERM to it stops the server', async () => {
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'df-start-')),
        DATABASE_URL: '',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (c) => {
      output += c;
    });
    const deadline = Date.now() + 30_000;
    let url = '';
    while (!url && Date.now() < deadline) {
      url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1] ?? '';
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // The launcher itself is the server: its pid is the one listening.
    expect(output).toContain(`"pid":${child.pid}`);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  });
});
