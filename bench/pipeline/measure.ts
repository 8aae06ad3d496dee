// Pipeline benchmark: ai.generateImage over HTTP (instant demo provider, OSS test server, MariaDB)
// at concurrency 1, 8 and 32, next to a floor doing the same DB transactions plus one upload directly.
// The users calling ai.generateImage run in a process of their own (client.ts), one HTTP request per
// call, as browsers would: the CPU figures are the server's.
// Run: npx tsx bench/pipeline/run.ts [--source] [--dialect=mysql|sqlite] [--requests=N] [--levels=1,8,32] [--rounds=3] [--warmup=2000]
//      [--profile=dir]: V8's CPU profiles of the runs at the last level (pipeline, floor, dry run, engine
//      alone), written to dir, and where this process's main thread spent them (by package and function)
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { inTransaction } from '../../db/transaction.ts';
import { createInnerContext } from '../../server/deps.ts';
import { parseEnv } from '../../server/env.ts';
import { logger } from '../../server/logger.ts';
import { demoLayout, LAYOUTS, renderDemoLayout, renderDemoPng } from '../../server/providers/demo-media.ts';
import { moveCredits } from '../../server/services/billing.ts';
import { systemClock } from '../../server/services/clock.ts';
import { startGeneration, waitForJob } from '../../server/services/generation.ts';
import { newId } from '../../server/services/ids.ts';
import { JobRunner } from '../../server/services/jobs/runner.ts';
import { insertJob, updateJob } from '../../server/services/jobs/store.ts';
import { OssStorage } from '../../server/storage/oss.ts';
import { jobView, outputView } from '../../server/views.ts';
import { createTestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import { startOssServer } from '../../test/oss-server/server.ts';
import { jobRow } from '../../test/pipeline.ts';
import { cpuMsOf, machineBusyMs, mariadbPid, runQueueWaitMsOf } from '../proc.ts';
import { startPipelineClient } from './client.ts';
import { type CpuProfile, type ProfiledRun, summarizeProfile } from './profile.ts';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const dialect = arg('dialect', 'mysql') as 'mysql' | 'sqlite';
const perLevel = Number(arg('requests', '0'));
const LEVELS = arg('levels', '1,8,32').split(',').map(Number);
const ROUNDS = Math.max(1, Number(arg('rounds', '3')));
const WARMUP = Number(arg('warmup', '2000'));
const PROFILE = arg('profile', '');

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** MariaDB's CPU time in ms, when it runs on this machine; else null. */
const mariadbCpuMs = (): number | null => {
  const pid = mariadbPid();
  return pid ? cpuMsOf(`/proc/${pid}/stat`) : null;
};

/**
 * This process's main thread's CPU time in ms (from /proc): the event loop the HTTP server, the engine and
 * the OSS test server share, which is what both runs are bound by (about 85 % busy in each); else null.
 */
const mainThreadCpuMs = (): number | null => cpuMsOf(`/proc/self/task/${process.pid}/stat`);
/** How long the main thread has waited, ready to run, while MariaDB, the callers or this process's other threads had the CPUs. */
const mainThreadWaitMs = (): number | null => runQueueWaitMsOf(`/proc/self/task/${process.pid}/schedstat`);

/** Garbage collection pauses in this process, in ms, summed as they come. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

/** Statements MariaDB has received so far (all clients: the bench is the only one), or null. */
const statementsSoFar = async (): Promise<number | null> => {
  if (dialect !== 'mysql') return null;
  const { rows } = await sql<{ Value: string }>`show global status like 'Questions'`.execute(t.db);
  return rows[0] ? Number(rows[0].Value) : null;
};

/**
 * Where a run's CPU went, per job: this process (HTTP, engine, OSS test server, render threads), its main
 * thread and its GC pauses, MariaDB, the whole machine (the callers and the kernel too), and the
 * statements sent.
 */
const cpuPerJob = async <T>(total: number, run: () => Promise<T>) => {
  const machine0 = machineBusyMs();
  const started = performance.now();
  const node0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const wait0 = mainThreadWaitMs();
  const gc0 = gcMs;
  const db0 = dialect === 'mysql' ? mariadbCpuMs() : null;
  const statements0 = await statementsSoFar();
  const result = await run();
  const node = process.cpuUsage(node0);
  const main1 = mainThreadCpuMs();
  const wait1 = mainThreadWaitMs();
  const db1 = db0 === null ? null : mariadbCpuMs();
  const statements1 = await statementsSoFar();
  const machine1 = machineBusyMs();
  const machineMs = machine0 === null || machine1 === null ? null : machine1 - machine0;
  return {
    ...result,
    machineCpu: machineMs === null ? null : machineMs / total,
    /** vCPUs busy on average during the run. */
    machineBusy: machineMs === null ? null : machineMs / (performance.now() - started),
    nodeCpu: (node.user + node.system) / 1000 / total,
    mainCpu: main0 === null || main1 === null ? null : (main1 - main0) / total,
    mainWait: wait0 === null || wait1 === null ? null : (wait1 - wait0) / total,
    gc: (gcMs - gc0) / total,
    dbCpu: db0 === null || db1 === null ? null : (db1 - db0) / total,
    // Less the one `show global status` that counted itself.
    statements: statements0 === null || statements1 === null ? null : (statements1 - statements0 - 1) / total,
  };
};

type Once = (i: number, worker: number) => Promise<void>;

async function measure(concurrency: number, total: number, once: Once) {
  return cpuPerJob(total, () => timed(concurrency, total, once));
}

/** `concurrency` workers, worker w acting as user w, each running one job at a time until `total`. */
async function timed(concurrency: number, total: number, once: Once) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await once(i, worker);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { jobsPerSecond: total / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

logger.setLevel('warn');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-bench-pipeline-'));
const credentials = { accessKeyId: 'bench-ak', accessKeySecret: 'bench-secret', bucket: 'bench' };
const ossServer = await startOssServer({ dir: path.join(dir, 'oss'), ...credentials });
const storage = new OssStorage({
  ...credentials,
  region: 'oss-cn-hangzhou',
  endpoint: ossServer.url,
  cname: true,
  urlTtlSeconds: 600,
});
const t = await createTestDb(dialect);
const env = parseEnv({
  DATA_DIR: dir,
  DEMO_DELAY_MS: '0',
  SIGNUP_BONUS_CREDITS: '0',
  APP_SECRET: 'bench-secret-bench-secret-bench-secret',
  WORKER_CONCURRENCY: '32',
  LOG_LEVEL: 'warn',
  SIGNUPS_PER_IP_PER_HOUR: '0',
});
const inner = createInnerContext(env, t.db, systemClock, { storage });
const runner = new JobRunner(inner, {
  concurrency: 32,
  prefix: 'outputs',
  tmpDir: path.join(dir, 'tmp'),
  allowPrivateNetwork: true,
});
runner.start();
const server = await startTestServer(inner);

// One user per concurrent caller, for the pipeline and the floor alike: "concurrency 32" is 32 users each
// waiting for their image (one user's 32 at once would wait on USER_MAX_ACTIVE_JOBS, 10 in flight).
const users: { id: string; cookie: string }[] = [];
for (let u = 0; u < Math.max(...LEVELS); u++) {
  const cookies = new Map<string, string>();
  const { user } = await httpClient(server.url, { cookies }).auth.signUp.mutate({
    email: `bench-${u}@example.com`,
    password: 'sturdy-pass-1',
  });
  await inTransaction(t.db, (trx) =>
    moveCredits(trx, { userId: user.id, amount: 1_000_000, kind: 'grant', now: Date.now() }),
  );
  users.push({ id: user.id, cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') });
}
const callers = startPipelineClient();
const size = '512x512';
const png = renderDemoPng(512, 512, 1);
const pngFile = path.join(dir, 'floor.png');
fs.writeFileSync(pngFile, png);
// Every 512×512 demo layout rendered once in this thread, for the floor+render run's PNGs (painted here
// on a cached layout). The pipeline's PNGs are made on the render threads, whose layouts the warm-up
// renders (once each, as a server's first images of a size do).
const layoutStart = performance.now();
for (let index = 0; index < LAYOUTS; index++) renderDemoLayout(512, 512, index);
const layoutMs = (performance.now() - layoutStart) / LAYOUTS;
for (let index = 0; index < LAYOUTS; index++) demoLayout(512, 512, index);
const renderStart = performance.now();
for (let i = 0; i < 200; i++) renderDemoPng(512, 512, i * 7919);
const renderMs = (performance.now() - renderStart) / 200;

/** The floor: charge + job insert, claim, one upload, outputs + success, as the pipeline does them. */
async function floorOnce(_: number, worker: number) {
  const userId = users[worker]!.id;
  const now = Date.now();
  const jobId = newId();
  await inTransaction(t.db, async (trx) => {
    await moveCredits(trx, { userId, amount: -2, kind: 'charge', jobId, now });
    await insertJob(
      trx,
      jobRow(userId, {
        id: jobId,
        provider: 'floor',
        prompt: 'floor',
        cost: 2,
        next_attempt_at: now + 3_600_000,
        created_at: now,
      }),
    );
  });
  await updateJob(t.db, jobId, { status: 'running', lease_owner: 'floor', lease_until: now + 30_000 });
  const key = `floor/${jobId}/0.png`;
  const stored = await storage.put({ key, filePath: pngFile, contentType: 'image/png', size: png.length });
  await inTransaction(t.db, async (trx) => {
    await trx
      .insertInto('job_outputs')
      .values({
        id: newId(),
        job_id: jobId,
        user_id: userId,
        kind: 'image',
        oss_url: stored.url,
        oss_path: key,
        size: png.length,
        content_type: 'image/png',
        sha256: 'x',
        meta: '{}',
        prompt: 'floor',
        created_at: now,
        deleted_at: null,
      })
      .execute();
    await updateJob(trx, jobId, { status: 'succeeded', stage: 'done', progress: 100, finished_at: now });
  });
}

/**
 * The engine alone: what ai.generateImage does, called in this process with no HTTP (the charge and job
 * insert, the runner's steps, the wait, the answer's views), so the HTTP side's share shows.
 */
let engineCalls = 0;
async function engineOnce(_: number, worker: number) {
  const start = await startGeneration(inner, {
    kind: 'image',
    userId: users[worker]!.id,
    prompt: `engine ${engineCalls}`,
    size,
    seed: engineCalls++,
  });
  if (start.dryRun) throw new Error('not a dry run');
  const { job, outputs } = await waitForJob(inner, start.job, 60_000);
  if (job.status !== 'succeeded') throw new Error(`job ${job.id} ended ${job.status}`);
  jobView(job);
  for (const output of outputs) outputView(inner.storage, output);
}

/** The floor plus the provider's own work (rendering the demo PNG and writing it), which no pipeline can skip. */
async function floorWithRenderOnce(i: number, worker: number) {
  const bytes = renderDemoPng(512, 512, i);
  fs.writeFileSync(path.join(dir, 'render.png'), bytes);
  await floorOnce(i, worker);
}

console.log(
  `pipeline benchmark on ${dialect}, instant demo provider (${size} PNG, ${png.length} bytes), OSS test server`,
);
console.log(
  `demo PNG: ${renderMs.toFixed(3)} ms per image (a palette on a cached layout, in floor+render; the pipeline's are made, and hashed, on its render threads), ${layoutMs.toFixed(1)} ms per layout (once for each of the ${LAYOUTS} per size)`,
);
console.log(
  `${ROUNDS} rounds per level, pipeline and floor taking turns (a round's ratio compares neighbours, so the machine's drift cancels); medians, with the range`,
);
console.log(
  'concurrency | pipeline jobs/s (range)  p50 ms  p99 ms | floor jobs/s (range)  p50 ms  p99 ms | floor+render jobs/s | pipeline ÷ floor: median (rounds) | ÷ floor+render',
);
const profiled: Record<'pipeline' | 'floor' | 'engine' | 'dry', ProfiledRun> = {
  pipeline: { label: 'pipeline', profiles: [], jobs: 0 },
  floor: { label: 'floor', profiles: [], jobs: 0 },
  engine: { label: 'engine', profiles: [], jobs: 0 },
  dry: { label: 'dry run', profiles: [], jobs: 0 },
};
/** Runs `fn` under the CPU profiler (when `session` is set) and keeps its profile under `kind`. */
async function profile<T>(
  session: Session | null,
  kind: keyof typeof profiled,
  jobs: number,
  fn: () => Promise<T>,
) {
  if (!session) return fn();
  await session.post('Profiler.start');
  const result = await fn();
  profiled[kind].profiles.push(((await session.post('Profiler.stop')) as { profile: CpuProfile }).profile);
  profiled[kind].jobs += jobs;
  return result;
}
const cpuLines: string[] = [];
const mainLines: string[] = [];
const engineLines: string[] = [];
const httpLines: string[] = [];
const machineLines: string[] = [];
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const medianOf = <T>(runs: T[], pick: (r: T) => number) => median(runs.map(pick));
// Steady state, as a server that has run for a while: both sides warm up (V8 optimises the code paths
// and sizes its heap, MariaDB's buffer pool holds the tables) before anything is measured. Without it
// the first thousands of pipeline jobs run 30-80 % slower than the rest, and the floor's much smaller
// path warms up sooner, so the early rounds measured the JIT, not the pipeline.
if (WARMUP > 0) {
  const top = Math.max(...LEVELS);
  await callers.run({
    baseUrl: server.url,
    cookies: users.map((u) => u.cookie),
    concurrency: top,
    total: WARMUP,
    size,
    label: 'warm-up',
  });
  await timed(top, WARMUP, floorOnce);
}
for (const c of LEVELS) {
  const total = perLevel || Math.max(60, c * 8);
  const run = (concurrency: number, total: number, label: string, dryRun = false) =>
    callers.run({
      baseUrl: server.url,
      cookies: users.map((u) => u.cookie),
      concurrency,
      total,
      size,
      label,
      dryRun,
    });
  await run(c, c, `warm-up ${c}`);
  const pipelines = [];
  const floors: Awaited<ReturnType<typeof measure>>[] = [];
  const profiling = PROFILE && c === LEVELS.at(-1) ? new Session() : null;
  profiling?.connect();
  await profiling?.post('Profiler.enable');
  // A sample every 100 µs (V8's default is 1 ms): a job's few-µs parts show up in a run of 1,000 jobs.
  await profiling?.post('Profiler.setSamplingInterval', { interval: 100 });
  for (let round = 0; round < ROUNDS; round++) {
    pipelines.push(
      await profile(profiling, 'pipeline', total, () =>
        cpuPerJob(total, async () => {
          const { seconds, latencies, cpuMs } = await run(c, total, String(c));
          latencies.sort((a, b) => a - b);
          return {
            jobsPerSecond: total / seconds,
            p50: pct(latencies, 50),
            p99: pct(latencies, 99),
            callersCpu: cpuMs / total,
          };
        }),
      ),
    );
    floors.push(await profile(profiling, 'floor', total, () => measure(c, total, floorOnce)));
  }
  const dry = await profile(profiling, 'dry', total, () =>
    cpuPerJob(total, async () => {
      const { seconds } = await run(c, total, `dry ${c}`, true);
      return { callsPerSecond: total / seconds };
    }),
  );
  httpLines.push(
    `${String(c).padStart(11)} | ${dry.callsPerSecond.toFixed(1).padStart(8)} | ${dry.nodeCpu.toFixed(2).padStart(9)}${dry.dbCpu === null ? '' : ` + ${dry.dbCpu.toFixed(2)}`}`,
  );
  const withRender = await measure(c, total, floorWithRenderOnce);
  const engine = await profile(profiling, 'engine', total, () => measure(c, total, engineOnce));
  profiling?.disconnect();
  const f = (n: number) => n.toFixed(1).padStart(7);
  const range = (runs: { jobsPerSecond: number }[]) => {
    const rates = runs.map((r) => r.jobsPerSecond);
    return `(${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)})`.padEnd(10);
  };
  const ratios = pipelines.map((p, i) => (100 * p.jobsPerSecond) / floors[i]!.jobsPerSecond);
  const pipelineRate = medianOf(pipelines, (r) => r.jobsPerSecond);
  console.log(
    `${String(c).padStart(11)} | ${f(pipelineRate)} ${range(pipelines)} ${f(medianOf(pipelines, (r) => r.p50))} ${f(medianOf(pipelines, (r) => r.p99))} | ${f(medianOf(floors, (r) => r.jobsPerSecond))} ${range(floors)} ${f(medianOf(floors, (r) => r.p50))} ${f(medianOf(floors, (r) => r.p99))} | ${f(withRender.jobsPerSecond)}             | ${Math.round(median(ratios))} % (${ratios.map((r) => Math.round(r)).join(', ')}) | ${Math.round((100 * pipelineRate) / withRender.jobsPerSecond)} %`,
  );
  const cpu = (runs: { nodeCpu: number; dbCpu: number | null }[]) => {
    const node = medianOf(runs, (r) => r.nodeCpu);
    const db = runs.some((r) => r.dbCpu === null) ? null : medianOf(runs, (r) => r.dbCpu!);
    return `${node.toFixed(2)}${db === null ? '' : ` + ${db.toFixed(2)}`}`;
  };
  const main = (
    runs: { mainCpu: number | null; mainWait: number | null; gc: number; statements: number | null }[],
  ) => {
    const thread = runs.some((r) => r.mainCpu === null) ? '-' : medianOf(runs, (r) => r.mainCpu!).toFixed(2);
    const wait = runs.some((r) => r.mainWait === null) ? '-' : medianOf(runs, (r) => r.mainWait!).toFixed(2);
    const statements = runs.some((r) => r.statements === null)
      ? '-'
      : medianOf(runs, (r) => r.statements!).toFixed(1);
    return `${thread.padStart(6)} ${wait.padStart(5)} ${medianOf(runs, (r) => r.gc)
      .toFixed(2)
      .padStart(5)} ${statements.padStart(5)}`;
  };
  mainLines.push(
    `${String(c).padStart(11)} | ${main(pipelines)} | ${main(floors)} | ${main([engine])} | ${main([dry])}`,
  );
  engineLines.push(
    `${String(c).padStart(11)} | ${f(engine.jobsPerSecond)} | ${`${Math.round((100 * engine.jobsPerSecond) / medianOf(floors, (r) => r.jobsPerSecond))} %`.padStart(12)}`,
  );
  if (pipelines.every((r) => r.machineCpu !== null) && floors.every((r) => r.machineCpu !== null)) {
    const machine = (runs: { machineCpu: number | null; machineBusy: number | null }[]) => {
      const ms = medianOf(runs, (r) => r.machineCpu!).toFixed(2);
      const busy = medianOf(runs, (r) => r.machineBusy!).toFixed(2);
      return `${ms.padStart(6)} ${busy.padStart(5)}`;
    };
    const cpuRatios = pipelines.map((p, i) => (100 * floors[i]!.machineCpu!) / p.machineCpu!);
    machineLines.push(
      `${String(c).padStart(11)} | ${machine(pipelines)} | ${machine(floors)} | ${`${Math.round(median(cpuRatios))} %`.padStart(5)} (${cpuRatios.map((r) => Math.round(r)).join(', ')}) | ${Math.round(median(ratios))} %`,
    );
  }
  const callersCpu = medianOf(pipelines, (r) => r.callersCpu).toFixed(1);
  cpuLines.push(
    `${String(c).padStart(11)} | ${[cpu(pipelines).padStart(14), callersCpu.padStart(16), ...[floors, [withRender], [engine]].map((runs) => cpu(runs).padStart(14))].join(' | ')}`,
  );
}
/** A table of per-level lines under its title and column header. */
const printTable = (title: string, header: string, lines: string[]) => {
  console.log(`\n${title}`);
  console.log(header);
  for (const line of lines) console.log(line);
};
printTable(
  `CPU ms per job (medians of the rounds): this process${dialect === 'mysql' && mariadbCpuMs() !== null ? ' + MariaDB' : ''}`,
  "concurrency |       pipeline | callers' process |          floor |   floor+render |   engine alone",
  cpuLines,
);
printTable(
  'The same calls as dry runs (HTTP, session, tRPC, validation, the quote; no job): what the HTTP side costs',
  'concurrency |  calls/s | CPU ms per call',
  httpLines,
);
printTable(
  "Per job (medians of the rounds): this process's main thread (ms of CPU; ms waiting for a CPU while ready to run), its GC pauses (ms) and the statements MariaDB received",
  'concurrency | pipeline: main  wait    gc stmts | floor:    main  wait    gc stmts | engine:   main  wait    gc stmts | dry run: main  wait    gc stmts',
  mainLines,
);
if (machineLines.length)
  printTable(
    `The whole machine per job (medians of the rounds): its busy CPU (ms: this process, MariaDB, the callers, the kernel) and the vCPUs busy on average (of ${os.cpus().length}); when both runs keep the machine as busy, jobs/s follow the CPU a job costs`,
    'concurrency | pipeline: ms vCPUs | floor:    ms vCPUs | floor ÷ pipeline CPU (rounds) | pipeline ÷ floor jobs/s',
    machineLines,
  );
printTable(
  "The engine alone (ai.generateImage's work called in this process: charge, steps, wait, views; no HTTP)",
  'concurrency |  jobs/s | ÷ floor (median)',
  engineLines,
);

if (PROFILE && profiled.pipeline.profiles.length) {
  fs.mkdirSync(PROFILE, { recursive: true });
  for (const [kind, run] of Object.entries(profiled)) {
    for (const [i, p] of run.profiles.entries())
      fs.writeFileSync(path.join(PROFILE, `${kind}-${i + 1}.cpuprofile`), JSON.stringify(p));
  }
  console.log(
    `\nWhere the main thread went at concurrency ${LEVELS.at(-1)} (V8's sampling profiler, self time in ms per job; the profiles are in ${PROFILE}/)`,
  );
  console.log(summarizeProfile(Object.values(profiled), process.cwd()));
}
callers.close();
await server.close();
await runner.stop();
await ossServer.close();
await t.destroy();
fs.rmSync(dir, { recursive: true, force: true });
