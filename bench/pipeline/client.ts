// bench/pipeline's users, in a process of their own (forked by `startPipelineClient`): `concurrency`
// users (caller w signed in as user w) each call ai.generateImage, one call at a time, each call its own
// HTTP request (no batching: one user's request does not wait on another's) over kept-alive
// connections. Their work stays out of the measured server's event loop, heap and CPU figure, as
// browsers' would.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { answerParent, forkChild } from '../child.ts';

export interface PipelineRun {
  baseUrl: string;
  /** One session cookie per user: caller w is user w. */
  cookies: string[];
  concurrency: number;
  total: number;
  size: string;
  label: string;
  /** Dry runs: the same calls, answered with the quote (HTTP, session, tRPC and validation; no job). */
  dryRun?: boolean;
}

export interface PipelineAnswer {
  seconds: number;
  latencies: number[];
  cpuMs: number;
}

const agents = new Map<number, http.Agent>();

/**
 * POST one tRPC mutation (superjson's wire format for plain JSON input) and return the answer's data.
 * A kept-alive connection the server closed as idle (Node's 5 s `keepAliveTimeout`, reached while the
 * floor runs) can be picked for a request at that very moment: the request never reached the server,
 * so it is sent again on a new connection, as a browser does.
 */
function mutate(
  baseUrl: string,
  agent: http.Agent,
  cookie: string,
  path: string,
  input: unknown,
  body = JSON.stringify({ json: input }),
): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    const req = http.request(
      `${baseUrl}/trpc/${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), cookie },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${path} answered ${res.statusCode}: ${text}`));
          resolve((JSON.parse(text) as { result: { data: { json: unknown } } }).result.data.json);
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (req.reusedSocket && error.code === 'ECONNRESET')
        resolve(mutate(baseUrl, agent, cookie, path, input, body));
      else reject(error);
    });
    req.end(body);
  });
}

async function run(message: PipelineRun): Promise<PipelineAnswer> {
  let agent = agents.get(message.concurrency);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: message.concurrency });
    agents.set(message.concurrency, agent);
  }
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: message.concurrency }, async (_, caller) => {
      while (next < message.total) {
        const i = next++;
        const t0 = performance.now();
        const answer = (await mutate(message.baseUrl, agent, message.cookies[caller]!, 'ai.generateImage', {
          prompt: `bench ${message.label}-${i}`,
          size: message.size,
          seed: i,
          ...(message.dryRun ? { dryRun: true } : {}),
        })) as { job: { id: string; status: string } };
        const expected = message.dryRun ? 'queued' : 'succeeded';
        if (answer.job.status !== expected)
          throw new Error(`job ${answer.job.id} ended ${answer.job.status}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds: (performance.now() - started) / 1000,
    latencies,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

if (process.send) answerParent(run);

/** Forks the client process; `run` resolves with the run's wall time, each call's latency and its CPU. */
export function startPipelineClient() {
  const child = forkChild<PipelineRun, PipelineAnswer>(new URL(import.meta.url));
  return { run: child.ask, close: child.close };
}
