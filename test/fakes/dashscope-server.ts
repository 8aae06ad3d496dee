/**
 * A fake DashScope (Model Studio) server for the Wan async task API, following the wire-format reference
 * (shared/reference/providers.md §1, §2, §4 and the §7 checklist). It checks auth and the async header,
 * validates bodies, runs a per-task state machine driven by poll count, serves result files itself and
 * can be told to throttle, fail, hang, expire result URLs or end tasks in any documented way.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hashSeed, renderDemoMp4, renderDemoPng } from '../../server/providers/demo-media.ts';
import {
  Countdown,
  dashScopeTime,
  listen,
  type RecordedRequest,
  readBody,
  sendBytes,
  sendJson,
} from './http-util.ts';

export type DashScopeOutcome = 'succeeded' | 'partial' | 'failed' | 'data-inspection' | 'unknown';

export interface DashScopeScenario {
  /** What successive polls report before the outcome. Default: PENDING once, RUNNING twice. */
  states: Array<'PENDING' | 'RUNNING'>;
  outcome: DashScopeOutcome;
  /** For 'failed': the output.code and message. Default InternalError. */
  failCode: string;
  failMessage: string;
  /** For 'partial': how many of the n results fail. Default 1. */
  partialFailures: number;
  /** Answer every submission with this error instead of creating a task (e.g. 400 DataInspectionFailed). */
  submitError?: { status: number; code: string; message: string };
  /**
   * When set, a task runs for this long after its submit (PENDING for the first tenth, then RUNNING)
   * and then reaches its outcome, however often it is polled; `states` is then ignored.
   */
  latencyMs?: number;
}

/** The account's limits, as DashScope enforces them: over them a request gets 429 Throttling.RateQuota. */
export interface DashScopeLimits {
  /** Task submissions per second (any rolling second). */
  submitsPerSecond?: number;
  /** Task queries (GET /tasks/{id}) per second (any rolling second). */
  queriesPerSecond?: number;
}

export interface FakeTask {
  id: string;
  kind: 'image' | 'video';
  model: string;
  /** The prompt it was asked for (`input.prompt`). */
  prompt: string;
  n: number;
  width: number;
  height: number;
  duration: number;
  polls: number;
  /** When it was created (ms). */
  createdAt: number;
  /** When the client first saw it finished (ms), if it has. */
  seenDoneAt?: number;
  lastStatus: string;
  canceled: boolean;
  scenario: DashScopeScenario;
}

export interface DashScopeFake {
  url: string;
  apiKey: string;
  /** Tasks created. */
  readonly submissions: number;
  /** GET /tasks/{id} requests answered. */
  readonly queries: number;
  /** Arrival times (ms) of task queries, to check the client's rate limit. */
  readonly queryTimes: number[];
  /** Arrival times (ms) of accepted submissions. */
  readonly submitTimes: number[];
  /** Requests refused with 429 because they went over the account limits (not throttleNext). */
  readonly limited: { submits: number; queries: number };
  /** Changes the account limits (undefined = unlimited). */
  setLimits(limits: DashScopeLimits): void;
  /** The next `times` result downloads get no answer for `ms` (then a normal one). */
  hangFilesNext(times: number, ms?: number): void;
  readonly requests: RecordedRequest[];
  tasks: Map<string, FakeTask>;
  /** Applies to tasks submitted from now on. */
  setScenario(scenario: Partial<DashScopeScenario>): void;
  /** The next `times` API requests get 429 Throttling.RateQuota. */
  throttleNext(times: number): void;
  /** The next `times` API requests get this HTTP error. */
  failNext(times: number, status?: number, code?: string): void;
  /** The next `times` API requests get no answer for `ms` (then a normal one). */
  hangNext(times: number, ms?: number): void;
  /** The next `times` submits make their task, then the connection is cut instead of the answer. */
  loseAnswerNext(times: number): void;
  /** Result URLs answer 403 (as an expired OSS signature does). */
  expireResults(expired: boolean): void;
  close(): Promise<void>;
}

const DEFAULT_SCENARIO: DashScopeScenario = {
  states: ['PENDING', 'RUNNING', 'RUNNING'],
  outcome: 'succeeded',
  failCode: 'InternalError',
  failMessage: 'An internal error has occured, please try again later.',
  partialFailures: 1,
};

const VIDEO_SIZES = new Set([
  '832*480',
  '480*832',
  '624*624',
  '1280*720',
  '720*1280',
  '960*960',
  '1088*832',
  '832*1088',
  '1920*1080',
  '1080*1920',
  '1440*1440',
  '1632*1248',
  '1248*1632',
]);
const I2V_RESOLUTIONS: Record<string, [number, number]> = {
  '480P': [832, 480],
  '720P': [1280, 720],
  '1080P': [1920, 1080],
};

const error = (res: ServerResponse, status: number, code: string, message: string) =>
  sendJson(res, status, { request_id: randomUUID(), code, message });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts arrivals in the last second; `admit` refuses one over the limit. */
class RollingWindow {
  private readonly times: number[] = [];
  admit(limit: number | undefined, now: number): boolean {
    if (!limit) return true;
    while (this.times.length > 0 && this.times[0]! <= now - 1000) this.times.shift();
    if (this.times.length >= limit) return false;
    this.times.push(now);
    return true;
  }
}

export const startDashScopeFake = async (
  options: {
    apiKey?: string;
    scenario?: Partial<DashScopeScenario>;
    limits?: DashScopeLimits;
    /** Serve one rendered file per kind and size to every task (benchmarks: no ffmpeg per task). */
    reuseFiles?: boolean;
  } = {},
): Promise<DashScopeFake> => {
  const apiKey = options.apiKey ?? `sk-fake-dashscope-${randomUUID()}`;
  let scenario: DashScopeScenario = { ...DEFAULT_SCENARIO, ...options.scenario };
  const tasks = new Map<string, FakeTask>();
  const requests: RecordedRequest[] = [];
  const queryTimes: number[] = [];
  const submitTimes: number[] = [];
  let limits: DashScopeLimits = { ...options.limits };
  const submitWindow = new RollingWindow();
  const queryWindow = new RollingWindow();
  const limited = { submits: 0, queries: 0 };
  const hangFiles = new Countdown<number>();
  const throttle = new Countdown<true>();
  const fail = new Countdown<{ status: number; code: string }>();
  const hang = new Countdown<number>();
  const loseAnswer = new Countdown<true>();
  const files = new Map<string, Promise<Buffer>>();
  let submissions = 0;
  let expired = false;
  let baseUrl = '';

  const fileUrl = (task: FakeTask, index: number) =>
    `${baseUrl}/files/${task.id}/${index}.${task.kind === 'image' ? 'png' : 'mp4'}?Expires=${
      Math.floor(Date.now() / 1000) + 86_400
    }&OSSAccessKeyId=fake&Signature=${randomUUID()}`;

  const submit = async (req: IncomingMessage, res: ServerResponse, kind: 'image' | 'video', raw: string) => {
    if (req.headers['x-dashscope-async'] !== 'enable') {
      return error(res, 403, 'AccessDenied', 'current user api does not support synchronous calls');
    }
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw);
    } catch {
      return error(res, 400, 'InvalidParameter', 'The request body is not valid JSON.');
    }
    if (!body.model)
      return error(res, 400, 'BadRequest.EmptyModel', 'Required parameter "model" missing from request.');
    if (!body.input)
      return error(res, 400, 'BadRequest.EmptyInput', 'Required parameter "input" missing from request.');
    if (typeof body.input.prompt !== 'string' || !body.input.prompt) {
      return error(res, 400, 'InvalidParameter', 'Field required: input.prompt');
    }
    const model = String(body.model);
    const params: Record<string, any> = body.parameters ?? {};
    let width: number;
    let height: number;
    let n = 1;
    let duration = 5;
    if (kind === 'image') {
      if (!/t2i|wanx-v1/.test(model))
        return error(res, 400, 'InvalidParameter', `Model ${model} not supported here.`);
      const size = String(params.size ?? '1024*1024');
      const match = /^(\d+)\*(\d+)$/.exec(size);
      if (!match) return error(res, 400, 'InvalidParameter', `The size is invalid: ${size}`);
      width = Number(match[1]);
      height = Number(match[2]);
      if (width < 512 || width > 1440 || height < 512 || height > 1440) {
        return error(res, 400, 'InvalidParameter', `The size is out of range: ${size}`);
      }
      n = params.n === undefined ? 4 : Number(params.n);
      if (!Number.isInteger(n) || n < 1 || n > 4)
        return error(res, 400, 'InvalidParameter', 'n must be 1..4');
    } else {
      duration = params.duration === undefined ? 5 : Number(params.duration);
      if (model.includes('i2v')) {
        if (typeof body.input.img_url !== 'string') {
          return error(res, 400, 'InvalidParameter', 'Field required: input.img_url');
        }
        const dims = I2V_RESOLUTIONS[String(params.resolution ?? '1080P')];
        if (!dims)
          return error(res, 400, 'InvalidParameter', `The resolution is invalid: ${params.resolution}`);
        [width, height] = dims;
      } else if (model.includes('t2v')) {
        const size = String(params.size ?? '1920*1080');
        if (!VIDEO_SIZES.has(size))
          return error(res, 400, 'InvalidParameter', `The size is invalid: ${size}`);
        const [w, h] = size.split('*').map(Number);
        width = w ?? 0;
        height = h ?? 0;
      } else {
        return error(res, 400, 'InvalidParameter', `Model ${model} not supported here.`);
      }
    }
    if (scenario.submitError) {
      const { status, code, message } = scenario.submitError;
      return error(res, status, code, message);
    }
    const id = randomUUID();
    submitTimes.push(Date.now());
    tasks.set(id, {
      id,
      kind,
      model,
      prompt: body.input.prompt,
      n,
      width,
      height,
      duration,
      polls: 0,
      createdAt: Date.now(),
      lastStatus: 'PENDING',
      canceled: false,
      scenario: structuredClone(scenario),
    });
    submissions++;
    if (loseAnswer.take()) return void res.socket?.destroy();
    return sendJson(res, 200, { output: { task_status: 'PENDING', task_id: id }, request_id: randomUUID() });
  };

  const query = (res: ServerResponse, id: string) => {
    queryTimes.push(Date.now());
    const task = tasks.get(id);
    const times = {
      submit_time: dashScopeTime(),
      scheduled_time: dashScopeTime(),
      end_time: dashScopeTime(),
    };
    const json = { 'content-type': 'application/json;charset=UTF-8' };
    if (!task) {
      return sendJson(
        res,
        200,
        { request_id: randomUUID(), output: { task_id: id, task_status: 'UNKNOWN' } },
        json,
      );
    }
    task.polls++;
    const s = task.scenario;
    const metrics = { TOTAL: task.n, SUCCEEDED: 0, FAILED: 0 };
    let output: Record<string, unknown>;
    let usage: Record<string, unknown> | undefined;
    const elapsed = Date.now() - task.createdAt;
    const working =
      s.latencyMs === undefined
        ? task.polls <= s.states.length
          ? (s.states[task.polls - 1] ?? 'PENDING')
          : null
        : elapsed < s.latencyMs
          ? elapsed < s.latencyMs / 10
            ? 'PENDING'
            : 'RUNNING'
          : null;
    if (task.canceled) {
      output = { task_id: id, task_status: 'CANCELED', submit_time: times.submit_time };
    } else if (working) {
      const status = working;
      output =
        status === 'PENDING'
          ? { task_id: id, task_status: status, submit_time: times.submit_time }
          : { task_id: id, task_status: status, ...times, end_time: undefined, task_metrics: metrics };
    } else if (s.outcome === 'unknown') {
      output = { task_id: id, task_status: 'UNKNOWN' };
    } else if (s.outcome === 'failed' || s.outcome === 'data-inspection') {
      const inspection = s.outcome === 'data-inspection';
      output = {
        task_id: id,
        task_status: 'FAILED',
        ...times,
        code: inspection ? 'DataInspectionFailed' : s.failCode,
        message: inspection ? 'Output data may contain inappropriate content.' : s.failMessage,
      };
    } else if (task.kind === 'video') {
      output = {
        task_id: id,
        task_status: 'SUCCEEDED',
        ...times,
        video_url: fileUrl(task, 0),
        orig_prompt: 'prompt',
      };
      usage = { video_count: 1, video_duration: task.duration, video_ratio: `${task.width}*${task.height}` };
    } else {
      const failures = s.outcome === 'partial' ? Math.min(task.n, s.partialFailures) : 0;
      const results = Array.from({ length: task.n }, (_, index) =>
        index < task.n - failures
          ? { url: fileUrl(task, index), orig_prompt: 'prompt', actual_prompt: 'rewritten prompt' }
          : {
              code: 'InternalError.Timeout',
              message: 'An internal timeout error has occured during execution.',
            },
      );
      output = {
        task_id: id,
        task_status: 'SUCCEEDED',
        ...times,
        results,
        task_metrics: { TOTAL: task.n, SUCCEEDED: task.n - failures, FAILED: failures },
      };
      usage = { image_count: task.n - failures };
    }
    task.lastStatus = String(output.task_status);
    if (!working && task.seenDoneAt === undefined) task.seenDoneAt = Date.now();
    return sendJson(res, 200, { request_id: randomUUID(), output, ...(usage ? { usage } : {}) }, json);
  };

  const cancel = (res: ServerResponse, id: string) => {
    const task = tasks.get(id);
    if (task?.lastStatus !== 'PENDING' || task.canceled) {
      return error(
        res,
        400,
        'UnsupportedOperation',
        'Failed to cancel the task, please confirm if the task is in PENDING status.',
      );
    }
    task.canceled = true;
    task.lastStatus = 'CANCELED';
    return sendJson(res, 200, { request_id: randomUUID() });
  };

  const serveFile = async (res: ServerResponse, id: string, index: number, ext: string) => {
    if (expired) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      return res.end(
        '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>',
      );
    }
    const hangMs = hangFiles.take();
    if (hangMs !== undefined) await sleep(hangMs);
    const task = tasks.get(id);
    if (!task || index >= task.n) {
      res.writeHead(404);
      return res.end();
    }
    const key = options.reuseFiles ? `${task.kind}/${task.width}x${task.height}` : `${id}/${index}`;
    let bytes = files.get(key);
    if (!bytes) {
      const seed = hashSeed(key);
      bytes =
        ext === 'png'
          ? Promise.resolve(renderDemoPng(task.width, task.height, seed))
          : renderDemoMp4({
              width: task.width,
              height: task.height,
              durationSeconds: Math.min(task.duration, 2),
              seed,
            });
      files.set(key, bytes);
    }
    return sendBytes(res, ext === 'png' ? 'image/png' : 'video/mp4', await bytes);
  };

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = req.method === 'POST' ? await readBody(req) : '';
    let parsed: unknown = raw;
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch {}
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      headers: { ...req.headers },
      body: parsed,
    });

    const file = /^\/files\/([^/]+)\/(\d+)\.(png|mp4)$/.exec(url.pathname);
    if (file && req.method === 'GET') return serveFile(res, file[1] ?? '', Number(file[2]), file[3] ?? 'png');

    const hangMs = hang.take();
    if (hangMs !== undefined) await sleep(hangMs);
    if (throttle.take()) {
      return error(res, 429, 'Throttling.RateQuota', 'Requests rate limit exceeded, please try again later.');
    }
    const failure = fail.take();
    if (failure)
      return error(
        res,
        failure.status,
        failure.code,
        'An internal error has occured, please try again later.',
      );
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return error(res, 401, 'InvalidApiKey', 'Invalid API-key provided.');
    }

    const path = url.pathname;
    // The account limits, counted on arrival as the real service does.
    const isSubmit = req.method === 'POST' && path.startsWith('/api/v1/services/');
    const isQuery = req.method === 'GET' && path.startsWith('/api/v1/tasks/');
    const now = Date.now();
    if (
      (isSubmit && !submitWindow.admit(limits.submitsPerSecond, now)) ||
      (isQuery && !queryWindow.admit(limits.queriesPerSecond, now))
    ) {
      if (isSubmit) limited.submits++;
      else limited.queries++;
      return error(res, 429, 'Throttling.RateQuota', 'Requests rate limit exceeded, please try again later.');
    }
    if (req.method === 'POST' && path === '/api/v1/services/aigc/text2image/image-synthesis') {
      return submit(req, res, 'image', raw);
    }
    if (req.method === 'POST' && path === '/api/v1/services/aigc/video-generation/video-synthesis') {
      return submit(req, res, 'video', raw);
    }
    const taskPath = /^\/api\/v1\/tasks\/([^/]+)(\/cancel)?$/.exec(path);
    if (taskPath && req.method === 'GET' && !taskPath[2])
      return query(res, decodeURIComponent(taskPath[1] ?? ''));
    if (taskPath && req.method === 'POST' && taskPath[2])
      return cancel(res, decodeURIComponent(taskPath[1] ?? ''));
    return error(res, 404, 'NotFound', `No route for ${req.method} ${path}`);
  });
  baseUrl = server.url;

  return {
    url: server.url,
    apiKey,
    get submissions() {
      return submissions;
    },
    get queries() {
      return queryTimes.length;
    },
    queryTimes,
    submitTimes,
    limited,
    setLimits: (next) => {
      limits = { ...next };
    },
    hangFilesNext: (times, ms = 5000) => hangFiles.arm(times, ms),
    requests,
    tasks,
    setScenario: (next) => {
      scenario = { ...scenario, ...next };
    },
    throttleNext: (times) => throttle.arm(times, true),
    failNext: (times, status = 500, code = 'InternalError') => fail.arm(times, { status, code }),
    hangNext: (times, ms = 5000) => hang.arm(times, ms),
    loseAnswerNext: (times) => loseAnswer.arm(times, true),
    expireResults: (value) => {
      expired = value;
    },
    close: server.close,
  };
};
