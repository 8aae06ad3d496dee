import { AppError } from '../../shared/errors.ts';
import { parseSize, VIDEO_DIMENSIONS, type VideoResolution } from '../../shared/models.ts';
import { hashSeed, renderDemoMp4 } from './demo-media.ts';
import { DemoRenderPool } from './demo-render-pool.ts';
import type {
  CallOptions,
  GenerationRequest,
  PollPace,
  PollResult,
  Provider,
  ProviderResult,
  SubmitResult,
} from './provider.ts';

export interface DemoProviderOptions {
  /** How long a task "runs" before it succeeds; 0 (the default) finishes at the first poll. */
  delayMs?: number;
  /** ffmpeg binary for videos; defaults to the one bundled by @ffmpeg-installer/ffmpeg. */
  ffmpegPath?: string;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Where PNGs are rendered: their layouts on worker threads, started on first need, and painted in this
   * one (default: one pool per process).
   */
  renderPool?: DemoRenderPool;
}

/** Prompt markers that make the demo fail on purpose (documented in docs/providers.md). */
export const DEMO_MARKERS = {
  fail: '[demo:fail]',
  reject: '[demo:reject]',
  partial: '[demo:partial]',
} as const;
type DemoOutcome = keyof typeof DEMO_MARKERS | 'ok';

/**
 * Everything a poll needs, carried in the task id itself so that any process can resume a task after a
 * crash. The prompt travels as a hash (it only seeds the art), which keeps the id short.
 */
interface DemoTask {
  v: 1;
  k: 'image' | 'video';
  /** Seed hash of prompt + negative prompt + seed + input image. */
  h: number;
  n: number;
  w: number;
  ht: number;
  d?: number;
  o: DemoOutcome;
  /** Submit time, ms since the epoch. */
  t: number;
}

const TASK_PREFIX = 'demo1.';

const encodeTask = (task: DemoTask): string =>
  TASK_PREFIX + Buffer.from(JSON.stringify(task)).toString('base64url');

const decodeTask = (taskId: string): DemoTask | undefined => {
  if (!taskId.startsWith(TASK_PREFIX)) return undefined;
  try {
    const task = JSON.parse(
      Buffer.from(taskId.slice(TASK_PREFIX.length), 'base64url').toString('utf8'),
    ) as DemoTask;
    if (task.v !== 1 || (task.k !== 'image' && task.k !== 'video') || !Number.isFinite(task.t))
      return undefined;
    return task;
  } catch {
    return undefined;
  }
};

const outcomeOf = (prompt: string): DemoOutcome => {
  const lower = prompt.toLowerCase();
  if (lower.includes(DEMO_MARKERS.reject)) return 'reject';
  if (lower.includes(DEMO_MARKERS.fail)) return 'fail';
  if (lower.includes(DEMO_MARKERS.partial)) return 'partial';
  return 'ok';
};

let shared: DemoRenderPool | undefined;
/** The process's render threads, made on the first demo image (an idle server starts none). */
export const sharedRenderPool = (): DemoRenderPool => {
  shared ??= new DemoRenderPool();
  return shared;
};

const even = (value: number) => Math.max(2, Math.round(value / 2) * 2);

/** The offline provider: real PNGs and MP4s made locally, deterministic from prompt + seed. */
export const createDemoProvider = (options: DemoProviderOptions = {}): Provider => {
  const delayMs = Math.max(0, options.delayMs ?? 0);
  const now = options.now ?? Date.now;
  // Finished results by task id, so repeated polls of a finished task do not re-render.
  const cache = new Map<string, ProviderResult[]>();
  // Images are made on worker threads so the event loop stays free (videos already run in ffmpeg).
  let pool = options.renderPool;

  const render = async (task: DemoTask, signal?: AbortSignal): Promise<ProviderResult[]> => {
    const count = task.o === 'partial' ? Math.max(0, task.n - 1) : task.n;
    const seeds = Array.from({ length: count }, (_, index) => hashSeed(`${task.h}:${index}`));
    if (task.k === 'image') {
      // All of a task's images at once: the layouts not cached yet on as many render threads as there are.
      pool ??= sharedRenderPool();
      const renderer = pool;
      const images = await Promise.all(seeds.map((seed) => renderer.renderPng(task.w, task.ht, seed)));
      return images.map(({ png, digests }) => ({ bytes: png, contentType: 'image/png', digests }));
    }
    const results: ProviderResult[] = [];
    for (const seed of seeds) {
      const bytes = await renderDemoMp4(
        {
          width: task.w,
          height: task.ht,
          durationSeconds: task.d ?? 4,
          seed,
          ffmpegPath: options.ffmpegPath,
        },
        signal,
      );
      results.push({ bytes, contentType: 'video/mp4' });
    }
    return results;
  };

  return {
    id: 'demo',
    local: true,

    async submit(request: GenerationRequest): Promise<SubmitResult> {
      let width: number;
      let height: number;
      if (request.kind === 'image') {
        const size = parseSize(request.size ?? '1024x1024');
        if (!size) throw new AppError('VALIDATION', `bad image size ${request.size}`);
        width = size.width;
        height = size.height;
      } else {
        const dims = VIDEO_DIMENSIONS[(request.resolution ?? '480p') as VideoResolution];
        if (!dims) throw new AppError('VALIDATION', `bad video resolution ${request.resolution}`);
        width = even(dims.width);
        height = even(dims.height);
      }
      const task: DemoTask = {
        v: 1,
        k: request.kind,
        h: hashSeed(
          JSON.stringify([
            request.prompt,
            request.negativePrompt ?? '',
            request.seed ?? 0,
            request.imageUrl ?? '',
          ]),
        ),
        n: request.kind === 'video' ? 1 : Math.max(1, request.n),
        w: width,
        ht: height,
        d: request.kind === 'video' ? (request.durationSeconds ?? 4) : undefined,
        o: outcomeOf(request.prompt),
        t: now(),
      };
      return { taskId: encodeTask(task) };
    },

    async poll(taskId: string, callOptions?: CallOptions): Promise<PollResult> {
      const task = decodeTask(taskId);
      if (!task)
        return { state: 'unknown', error: { code: 'PROVIDER_FAILED', message: 'Unknown demo task.' } };
      const elapsed = now() - task.t;
      if (elapsed < delayMs) {
        return {
          state: 'running',
          progress: Math.min(99, Math.max(0, Math.floor((elapsed / delayMs) * 100))),
        };
      }
      if (task.o === 'fail') {
        return {
          state: 'failed',
          error: { code: 'PROVIDER_FAILED', message: 'The demo provider failed on purpose.' },
        };
      }
      if (task.o === 'reject') {
        return {
          state: 'failed',
          error: { code: 'CONTENT_REJECTED', message: 'The demo provider rejected the prompt on purpose.' },
        };
      }
      let results = cache.get(taskId);
      if (!results) {
        results = await render(task, callOptions?.signal);
        cache.set(taskId, results);
        if (cache.size > 8) cache.delete(cache.keys().next().value as string);
      }
      return {
        state: 'succeeded',
        progress: 100,
        results,
        failedCount: task.n - results.length,
        usage: task.k === 'image' ? { imageCount: results.length } : { videoDuration: task.d ?? 4 },
      };
    },

    // An instant demo (delay 0) is done at once: poll without waiting. A video's progress bar should
    // move, so it is looked at about five times over its delay (every 250 ms to 1 s). An image shows no
    // bar: the demo knows when its task ends, so look then, and briefly after.
    suggestedPollDelayMs: (pollCount: number, pace?: PollPace) => {
      if (delayMs === 0) return 0;
      if (pace?.kind === 'video') return Math.min(1000, Math.max(250, Math.floor(delayMs / 5)));
      return pollCount === 0 ? delayMs : Math.min(500, Math.max(50, Math.floor(delayMs / 10)));
    },
  };
};
