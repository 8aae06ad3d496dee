import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

/**
 * Startup time (spawn → first 200 from /healthz) and idle resident memory of the server on an existing
 * SQLite database (a restart; the first start, which also migrates, is shown beside it), three ways:
 * `npm start`'s launcher on a built tree (node scripts/start.mjs), plain `node dist/server/index.js`,
 * and the old way under tsx (`node --import tsx server/index.ts`). Build first (`npm run build`).
 *   npx tsx bench/startup/run.ts [--runs=3] [--idle-ms=5000]
 * Targets: /healthz in under 2 s from a built tree; idle RSS at or under 130 MB without tsx.
 */
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, 'idle-ms': { type: 'string', default: '5000' } },
});
const runs = Number(values.runs);
const idleMs = Number(values['idle-ms']);
const ROOT = path.resolve(import.meta.dirname, '../..');

const ways: Record<string, string[]> = {
  'npm start (launcher, built)': ['scripts/start.mjs'],
  'node dist/server/index.js': ['dist/server/index.js'],
  'tsx server/index.ts (before)': ['--import', 'tsx', 'server/index.ts'],
};

const rssMb = (pid: number): number => {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
};

/** CPU time (user + system) the process has used, in ms: what startup costs without the machine's load. */
const cpuMs = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
};

async function once(
  args: string[],
  dataDir: string,
): Promise<{ healthyMs: number; cpu: number; rss: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => {
    log += c;
  });
  try {
    let healthyMs = 0;
    let cpu = 0;
    while (!healthyMs) {
      if (child.exitCode !== null) throw new Error(`exited: ${log}`);
      const url = /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1];
      if (
        url &&
        (await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        ))
      ) {
        healthyMs = performance.now() - started;
        cpu = cpuMs(child.pid!);
      } else await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, idleMs));
    // tsx runs the server in the same process (--import), so child.pid is the server in every case.
    return { healthyMs, cpu, rss: rssMb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

if (!fs.existsSync(path.join(ROOT, 'dist/server/index.js'))) throw new Error('run `npm run build` first');
console.log(
  `node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0]?.toFixed(1)}, ${runs} runs each, RSS after ${idleMs} ms idle`,
);
for (const [name, args] of Object.entries(ways)) {
  // Each way on its own DATA_DIR: the first start creates the database and runs the migrations; the
  // measured ones are restarts, as in production.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-bench-start-'));
  const first = await once(args, dataDir);
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await once(args, dataDir));
  fs.rmSync(dataDir, { recursive: true, force: true });
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const wall = median(results.map((r) => r.healthyMs)).toFixed(0);
  const cpu = median(results.map((r) => r.cpu)).toFixed(0);
  const rss = median(results.map((r) => r.rss)).toFixed(0);
  const maxRss = Math.max(...results.map((r) => r.rss)).toFixed(0);
  console.log(
    `${name.padEnd(30)} restart: /healthz after ${wall} ms (CPU time used by then: ${cpu} ms); idle RSS ${rss} MB (max ${maxRss}); first start with migrations: ${first.healthyMs.toFixed(0)} ms (CPU ${first.cpu.toFixed(0)} ms)`,
  );
}
