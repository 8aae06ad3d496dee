// Fleet benchmark (issue 11): 2 × ROLE=api and 2 × ROLE=worker real processes on MariaDB, the DashScope
// fake at 15 s per task with 10 submits/s and 20 task queries/s (429 Throttling.RateQuota beyond),
// 400 text-to-video jobs from 20 users through both APIs, 100 of them followed over SSE, and mid-run a
// worker SIGTERMed, a worker SIGKILLed and an API SIGTERMed (each replaced by a fresh process).
// Prints drain ÷ floor, DB commands per job, 429 share, watcher lag, peak RSS, and checks the money.
//
// Run: npx tsx bench/fleet/run.ts [--jobs=400] [--users=20] [--watched=100] [--latency=15000]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import superjson from 'superjson';
import { connect } from '../../db/connect.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { parseEnv } from '../../server/env.ts';
import { ledgerMismatches, MYSQL_ROOT_URL } from '../../test/db.ts';
import { type FakeTask, startDashScopeFake } from '../../test/fakes/dashscope-server.ts';
import { httpClient } from '../../test/http.ts';
import { cpuMsOf, machineBusyMs, mariadbPid } from '../proc.ts';

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const JOBS = arg('jobs', 400);
const USERS = arg('users', 20);
const WATCHED = arg('watched', 100);
const LATENCY_MS = arg('latency', 15_000);
const SUBMITS_PER_SECOND = 10;
const QUERIES_PER_SECOND = 20;
/**
 * How far from a SIGKILL the killed worker's last submit can be made at the provider: answered just
 * before (the answer, then one statement to record it) or taken just after (sent before, read by the fake
 * under load).
 */
const KILL_WINDOW_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Job i's prompt: the provider's tasks say which job they were made for. */
const promptOf = (i: number) => `fleet video ${i}`;

// --- the database, with the fleet's own MariaDB user so USER_STATISTICS counts only its commands ---
const stamp = `${Date.now()}`;
const dbName = `df_fleet_${stamp}`;
const dbUser = `df_fleet_${stamp.slice(-8)}`;
const dbPassword = `pw${stamp}`;
const admin = await createConnection({ uri: MYSQL_ROOT_URL });
await admin.query(`CREATE DATABASE \`${dbName}\``);
for (const host of ['127.0.0.1', 'localhost']) {
  await admin.query(`CREATE USER '${dbUser}'@'${host}' IDENTIFIED BY '${dbPassword}'`);
  await admin.query(`GRANT ALL ON \`${dbName}\`.* TO '${dbUser}'@'${host}'`);
}
await admin.query('SET GLOBAL userstat = 1');
const rootDb = connect({ databaseUrl: `${MYSQL_ROOT_URL}/${dbName}`, dataDir: '' });
await migrateToLatest(rootDb);
const rootUrl = new URL(MYSQL_ROOT_URL);
const fleetUrl = `mysql://${dbUser}:${dbPassword}@${rootUrl.hostname}:${rootUrl.port || 3306}/${dbName}`;

async function commandsSoFar(): Promise<{ select: number; update: number; other: number; commits: number }> {
  const [rows] = (await admin.query(
    'SELECT SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, COMMIT_TRANSACTIONS FROM information_schema.USER_STATISTICS WHERE USER = ?',
    [dbUser],
  )) as unknown as [Record<string, number>[]];
  const r = rows[0];
  return {
    select: Number(r?.SELECT_COMMANDS ?? 0),
    update: Number(r?.UPDATE_COMMANDS ?? 0),
    other: Number(r?.OTHER_COMMANDS ?? 0),
    commits: Number(r?.COMMIT_TRANSACTIONS ?? 0),
  };
}

// --- the provider ---
const fake = await startDashScopeFake({
  scenario: { latencyMs: LATENCY_MS },
  limits: { submitsPerSecond: SUBMITS_PER_SECOND, queriesPerSecond: QUERIES_PER_SECOND },
  reuseFiles: true,
});

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-fleet-'));
const baseEnv: Record<string, string> = {
  DATABASE_URL: fleetUrl,
  DATA_DIR: dataDir,
  APP_SECRET: 'fleet-bench-secret-fleet-bench-secret',
  DASHSCOPE_API_KEY: fake.apiKey,
  DASHSCOPE_BASE_URL: fake.url,
  DEMO_PROVIDER: 'false',
  ALLOW_PRIVATE_NETWORK_FETCH: 'true',
  SIGNUPS_PER_IP_PER_HOUR: '0',
  SIGNUP_BONUS_CREDITS: '1000000',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  PORT: '0',
};

interface Proc {
  name: string;
  role: 'api' | 'worker';
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
  /** Peak resident set (VmHWM) seen, in MB. */
  peakRssMb: number;
  /** CPU time (user + system) last seen, in s. */
  cpuS: number;
  /** The server process's pid (`serverPid`). */
  pid?: number;
}
const procs: Proc[] = [];

/**
 * The server's own pid under `npm start` (npm → `exec node scripts/start.mjs`, which loads the built
 * server in place): signals go to it directly, as an orchestrator's would to the container's process.
 * Looked up once (pgrep is a process of its own: 28 a second cost this run a sixth of the machine).
 */
function serverPid(p: Proc): number {
  if (p.pid === undefined) {
    const children = execFileSync('pgrep', ['-P', String(p.child.pid)], { encoding: 'utf8' }).trim();
    p.pid = Number(children.split('\n')[0]) || (p.child.pid as number);
  }
  return p.pid;
}
function signal(p: Proc, sig: NodeJS.Signals) {
  try {
    process.kill(serverPid(p), sig);
  } catch {
    p.child.kill(sig);
  }
}

/** THE one place fleet processes are started: `npm start`, as an operator runs the product. */
function startProcess(role: 'api' | 'worker', name: string): Promise<Proc> {
  const child = spawn('npm', ['start', '--silent'], {
    env: { ...process.env, ...baseEnv, ROLE: role },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${log.slice(-2000)}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-50_000);
      const url = /"msg":"listening".*?"url":"(http[^"]+)"/.exec(log)?.[1];
      if (url && !procs.some((p) => p.child === child)) {
        clearTimeout(timer);
        const proc: Proc = { name, role, url, child, exited, peakRssMb: 0, cpuS: 0 };
        procs.push(proc);
        resolve(proc);
      }
      for (const line of chunk.toString().split('\n')) {
        if (/"level":"(error)"/.test(line)) console.error(`[${name}] ${line.slice(0, 400)}`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!procs.some((p) => p.child === child))
        reject(new Error(`${name} exited with ${code}: ${log.slice(-2000)}`));
    });
  });
}

/** CPU time (user + system) of a process so far, in s, with its waited-for children's (ffmpeg); null when gone. */
const cpuSeconds = (pid: number | string): number | null => {
  const ms = cpuMsOf(`/proc/${pid}/stat`, true);
  return ms === null ? null : ms / 1000;
};
const mariadb = mariadbPid();
/** The whole machine's busy CPU time so far, in s (all CPUs). */
const machineBusySeconds = (): number => (machineBusyMs() ?? 0) / 1000;
const cpuAtStart = { bench: process.cpuUsage(), mariadb: mariadb ? cpuSeconds(mariadb) : null };

const rssTimer = setInterval(() => {
  for (const p of procs) {
    try {
      const pid = serverPid(p);
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      p.peakRssMb = Math.max(p.peakRssMb, hwm);
      p.cpuS = cpuSeconds(pid) ?? p.cpuS;
    } catch {}
  }
}, 250);

const before = await commandsSoFar();
// One build first, so the four `npm start`s find dist/ fresh and none of them builds.
execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
const [api1, api2] = await Promise.all([startProcess('api', 'api-1'), startProcess('api', 'api-2')]);
await Promise.all([startProcess('worker', 'worker-1'), startProcess('worker', 'worker-2')]);
const liveApis: string[] = [api1!.url, api2!.url];
let apiTurn = 0;
const nextApi = () => liveApis[apiTurn++ % liveApis.length]!;

/** Calls an API, moving to another one when the process it chose is going away. */
async function onAnyApi<T>(fn: (url: string) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(nextApi());
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(200);
    }
  }
}

// --- users ---
const users: { token: string }[] = [];
for (let i = 0; i < USERS; i++) {
  const cookies = new Map<string, string>();
  const url = nextApi();
  await httpClient(url, { cookies }).auth.signUp.mutate({
    email: `fleet${i}-${stamp}@example.com`,
    password: 'fleet-bench-pass-9',
  });
  const { token } = await httpClient(url, { cookies }).apiTokens.create.mutate({ name: 'fleet' });
  users.push({ token });
}

// --- watchers: follow a job over SSE to its end, reconnecting (with lastEventId) when a stream ends ---
interface Watch {
  jobId: string;
  sawEndAt: number | null;
  reconnects: number;
}
const watches: Watch[] = [];
const FINAL = new Set(['succeeded', 'failed', 'canceled']);
async function follow(watch: Watch, token: string) {
  let lastEventId: string | null = null;
  while (watch.sawEndAt === null) {
    const url = nextApi();
    const input = encodeURIComponent(JSON.stringify(superjson.serialize({ id: watch.jobId, lastEventId })));
    try {
      const res = await fetch(`${url}/trpc/jobs.watch?input=${input}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const id = /^id:\s*(.+)$/m.exec(block)?.[1];
          const data = /^data:\s*(.+)$/m.exec(block)?.[1];
          if (!id || !data) continue;
          lastEventId = id;
          const job = superjson.deserialize<{ status: string }>(JSON.parse(data));
          if (FINAL.has(job.status) && watch.sawEndAt === null) watch.sawEndAt = Date.now();
        }
        if (watch.sawEndAt !== null) break;
      }
    } catch {}
    if (watch.sawEndAt === null) {
      watch.reconnects++;
      await sleep(250);
    }
  }
}

// --- submit 400 videos through both APIs, 20 at a time ---
console.log(
  `fleet: ${JOBS} videos from ${USERS} users, tasks ${LATENCY_MS / 1000} s, limits ${SUBMITS_PER_SECOND} submits/s and ${QUERIES_PER_SECOND} queries/s`,
);
const t0 = Date.now();
const machineAtT0 = machineBusySeconds();
const jobIds: string[] = new Array(JOBS);
const followers: Promise<void>[] = [];
let submitted = 0;
/** When worker-2 was SIGKILLed (ms). */
let killedAt: number | undefined;
const faults = (async () => {
  await sleep(10_000);
  const w1 = procs.find((p) => p.name === 'worker-1')!;
  console.log(`t+${((Date.now() - t0) / 1000).toFixed(0)}s SIGTERM worker-1`);
  signal(w1, 'SIGTERM');
  await w1.exited;
  await startProcess('worker', 'worker-1b');
  await sleep(Math.max(0, t0 + 20_000 - Date.now()));
  const w2 = procs.find((p) => p.name === 'worker-2')!;
  console.log(`t+${((Date.now() - t0) / 1000).toFixed(0)}s SIGKILL worker-2`);
  killedAt = Date.now();
  signal(w2, 'SIGKILL');
  await w2.exited;
  await startProcess('worker', 'worker-2b');
  await sleep(Math.max(0, t0 + 30_000 - Date.now()));
  console.log(`t+${((Date.now() - t0) / 1000).toFixed(0)}s SIGTERM api-1`);
  liveApis.splice(liveApis.indexOf(api1!.url), 1);
  signal(api1!, 'SIGTERM');
  const fresh = await startProcess('api', 'api-1b');
  liveApis.push(fresh.url);
})();
await Promise.all(
  Array.from({ length: 20 }, async () => {
    while (submitted < JOBS) {
      const i = submitted++;
      const user = users[i % USERS]!;
      const { job } = await onAnyApi((url) =>
        httpClient(url, { token: user.token }).ai.generateVideo.mutate({
          prompt: promptOf(i),
          model: 'wan-t2v-turbo',
          resolution: '480p',
          idempotencyKey: `fleet-${stamp}-${i}`,
        }),
      );
      jobIds[i] = job.id;
      if (i % Math.max(1, Math.floor(JOBS / WATCHED)) === 0 && watches.length < WATCHED) {
        const watch: Watch = { jobId: job.id, sawEndAt: null, reconnects: 0 };
        watches.push(watch);
        followers.push(follow(watch, user.token));
      }
    }
  }),
);
console.log(`t+${((Date.now() - t0) / 1000).toFixed(1)}s all ${JOBS} submitted to the APIs`);

// --- drain ---
let lastPrint = 0;
for (;;) {
  const rows = await rootDb.selectFrom('jobs').select(['status']).execute();
  const final = rows.filter((r) => FINAL.has(r.status)).length;
  if (Date.now() - lastPrint > 10_000) {
    lastPrint = Date.now();
    console.log(
      `t+${((Date.now() - t0) / 1000).toFixed(0)}s ${final}/${JOBS} finished, provider submits ${fake.submissions}, 429s ${fake.limited.submits + fake.limited.queries}`,
    );
  }
  if (final >= JOBS) break;
  if (Date.now() - t0 > 900_000) throw new Error('the fleet did not drain in 15 minutes');
  await sleep(500);
}
const machineToDrain = { busyS: machineBusySeconds() - machineAtT0, wallS: (Date.now() - t0) / 1000 };
await faults;
await Promise.race([Promise.all(followers), sleep(15_000)]);
const after = await commandsSoFar();
clearInterval(rssTimer);

// --- figures ---
const jobs = await rootDb.selectFrom('jobs').selectAll().execute();
const firstCreated = Math.min(...jobs.map((j) => Number(j.created_at)));
const lastFinished = Math.max(...jobs.map((j) => Number(j.finished_at ?? 0)));
const drainS = (lastFinished - firstCreated) / 1000;
const floorS = JOBS / SUBMITS_PER_SECOND + LATENCY_MS / 1000;
const commands = after.select - before.select + (after.update - before.update) + (after.other - before.other);
const apiRequests = fake.requests.filter((r) => r.path.startsWith('/api/')).length;
const refused = fake.limited.submits + fake.limited.queries;
const finishedAt = new Map(jobs.map((j) => [j.id, Number(j.finished_at)]));
const lags = watches
  .filter((w) => w.sawEndAt !== null)
  .map((w) => (w.sawEndAt! - finishedAt.get(w.jobId)!) / 1000)
  .sort((a, b) => a - b);
const p95 = lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.95))] ?? Number.NaN;
const inFlight = (() => {
  // Most tasks the provider had running at once (submit → first poll that saw it done).
  const events: [number, number][] = [];
  for (const task of fake.tasks.values()) {
    events.push([task.createdAt, 1], [task.seenDoneAt ?? task.createdAt + LATENCY_MS, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of events) {
    now += d;
    peak = Math.max(peak, now);
  }
  return peak;
})();

console.log('\n| figure | measured | target |');
console.log('|---|---|---|');
console.log(
  `| drain ÷ floor | ${drainS.toFixed(1)} s ÷ ${floorS.toFixed(0)} s = **${(drainS / floorS).toFixed(2)}** | ≤ 1.3 |`,
);
console.log(
  `| DB commands per job | ${commands} ÷ ${JOBS} = **${(commands / JOBS).toFixed(1)}** (select ${after.select - before.select}, update ${after.update - before.update}, other ${after.other - before.other}; commits ${after.commits - before.commits}) | ≤ 20 |`,
);
console.log(
  `| provider requests refused with 429 | ${refused} of ${apiRequests} = **${((100 * refused) / Math.max(1, apiRequests)).toFixed(1)}%** (submits ${fake.limited.submits}, queries ${fake.limited.queries}) | ≤ 5% |`,
);
console.log(
  `| watcher lag after finished_at, p95 | **${p95.toFixed(2)} s** (max ${(lags.at(-1) ?? Number.NaN).toFixed(2)} s; ${lags.length}/${watches.length} watchers saw the end; ${watches.reduce((n, w) => n + w.reconnects, 0)} reconnects) | ≤ 1 s, all |`,
);
console.log(`| tasks in flight at the provider, peak | ${inFlight} | |`);
// One submit per job, never a second. The one mark a crash can leave: the SIGKILLed worker had submits
// on the wire (submit_sent_at written, no task id yet). Those jobs are failed and refunded by the next
// worker instead of being submitted again (DashScope takes no idempotency key), and the task the provider
// may have made for one is held by no job: made within a moment of the kill and never polled. Any other
// task no job holds, and any other job that did not succeed, is a bug.
const interrupted = jobs.filter(
  (j) =>
    j.status === 'failed' &&
    j.error_code === 'PROVIDER_FAILED' &&
    j.provider_task_id === null &&
    j.submit_sent_at !== null &&
    killedAt !== undefined &&
    Math.abs(Number(j.submit_sent_at) - killedAt) <= KILL_WINDOW_MS,
);
const interruptedIds = new Set(interrupted.map((j) => j.id));
const finishedJobs = JOBS - interrupted.length;
const recordedTasks = new Set(jobs.flatMap((j) => (j.provider_task_id ? [j.provider_task_id] : [])));
const jobPrompts = new Set(Array.from({ length: JOBS }, (_, i) => promptOf(i)));
const orphans = [...fake.tasks.values()].filter((task) => !recordedTasks.has(task.id));
const inKillWindow = (task: FakeTask) =>
  killedAt !== undefined &&
  Math.abs(task.createdAt - killedAt) <= KILL_WINDOW_MS &&
  task.polls === 0 &&
  jobPrompts.has(task.prompt);
const killed = orphans.filter(inKillWindow);
const strays = orphans.filter((task) => !inKillWindow(task));
console.log(
  `| provider submits | ${fake.submissions} for ${JOBS} jobs${killed.map((task) => ` ("${task.prompt}" made ${task.createdAt - killedAt!} ms from worker-2's SIGKILL, whose job was failed and refunded, not submitted again)`).join('')} | one per job |`,
);
for (const p of procs)
  console.log(
    `| peak RSS ${p.name} (${p.role}), CPU | ${p.peakRssMb.toFixed(0)} MB, ${p.cpuS.toFixed(1)} s | |`,
  );
const benchCpu = process.cpuUsage(cpuAtStart.bench);
const mariadbCpu = mariadb && cpuAtStart.mariadb !== null ? cpuSeconds(mariadb)! - cpuAtStart.mariadb : null;
console.log(
  `| CPU of this process (fake provider, watchers, submitters), MariaDB | ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(1)} s, ${mariadbCpu?.toFixed(1) ?? '?'} s | |`,
);
console.log(
  `| the machine's busy CPU from the first submit to the drain | ${machineToDrain.busyS.toFixed(0)} s of ${os.cpus().length} × ${machineToDrain.wallS.toFixed(0)} s (${((100 * machineToDrain.busyS) / (os.cpus().length * machineToDrain.wallS)).toFixed(0)} %) | |`,
);

// --- checks ---
const problems: string[] = [];
const notSucceeded = jobs.filter((j) => j.status !== 'succeeded' && !interruptedIds.has(j.id));
if (jobs.length !== JOBS) problems.push(`${jobs.length} jobs in the database, expected ${JOBS}`);
if (notSucceeded.length)
  problems.push(
    `${notSucceeded.length} jobs did not succeed: ${notSucceeded
      .slice(0, 3)
      .map((j) => `${j.status} ${j.error_code} ${j.error_message}`)
      .join('; ')}`,
  );
if (strays.length)
  problems.push(
    `${strays.length} provider tasks no job holds, not the SIGKILL's: ${strays
      .slice(0, 3)
      .map(
        (task) => `"${task.prompt}" at t+${((task.createdAt - t0) / 1000).toFixed(2)}s, ${task.polls} polls`,
      )
      .join('; ')}`,
  );
// The killed worker had at most its step places (WORKER_CONCURRENCY, default settings) of submits on the wire.
if (interrupted.length > parseEnv({}).WORKER_CONCURRENCY)
  problems.push(`${interrupted.length} jobs failed as interrupted around the SIGKILL`);
if (killed.length > interrupted.length)
  problems.push(
    `${killed.length - interrupted.length} provider tasks around the SIGKILL with no interrupted job`,
  );
if (recordedTasks.size !== finishedJobs) problems.push('task ids are not one per finished job');
const ledger = await rootDb
  .selectFrom('credit_ledger')
  .select(['job_id', 'kind'])
  .where('job_id', 'is not', null)
  .execute();
const charges = new Map<string, number>();
for (const row of ledger.filter((r) => r.kind === 'charge'))
  charges.set(row.job_id!, (charges.get(row.job_id!) ?? 0) + 1);
if (charges.size !== JOBS || [...charges.values()].some((n) => n !== 1))
  problems.push('not exactly one charge per job');
// Exactly one refund for each interrupted job, none for the others.
const refunded = ledger.filter((r) => r.kind === 'refund');
if (refunded.length !== interrupted.length || refunded.some((r) => !interruptedIds.has(r.job_id!)))
  problems.push(`${refunded.length} refunds for ${interrupted.length} interrupted jobs`);
const outputs = await rootDb.selectFrom('job_outputs').select(['job_id', 'oss_path']).execute();
const perJob = new Map<string, number>();
for (const o of outputs) perJob.set(o.job_id, (perJob.get(o.job_id) ?? 0) + 1);
if (perJob.size !== finishedJobs || [...perJob.values()].some((n) => n !== 1))
  problems.push('not exactly one output per succeeded job');
const missing = outputs.filter((o) => !fs.existsSync(path.join(dataDir, 'objects', o.oss_path))).length;
if (missing) problems.push(`${missing} output objects missing on disk`);
const mismatches = await ledgerMismatches(rootDb);
if (mismatches.length) problems.push(`Σ ledger ≠ balance for ${mismatches.length} users`);
if (lags.length !== watches.length)
  problems.push(`${watches.length - lags.length} watchers never saw their job end`);
console.log(
  problems.length
    ? `\nCHECKS FAILED:\n- ${problems.join('\n- ')}`
    : `\nchecks: ${finishedJobs} of ${JOBS} succeeded${interrupted.length ? ` (${interrupted.length} interrupted mid-submit by the SIGKILL: failed, refunded once, not submitted again)` : ''}, never a second submit, one charge per job, one object per succeeded job, Σ ledger = balance for every user`,
);

// --- clean up ---
for (const p of procs) if (p.child.exitCode === null) signal(p, 'SIGTERM');
await Promise.race([Promise.all(procs.map((p) => p.exited)), sleep(20_000)]);
for (const p of procs) if (p.child.exitCode === null) signal(p, 'SIGKILL');
await fake.close();
await rootDb.destroy();
await admin.query(`DROP DATABASE IF EXISTS \`${dbName}\``);
for (const host of ['127.0.0.1', 'localhost']) await admin.query(`DROP USER IF EXISTS '${dbUser}'@'${host}'`);
await admin.end();
fs.rmSync(dataDir, { recursive: true, force: true });
process.exit(problems.length ? 1 : 0);
