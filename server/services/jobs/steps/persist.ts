import { AppError, isAppError } from '../../../../shared/errors.ts';
import { findModel } from '../../../../shared/models.ts';
import { logger } from '../../../logger.ts';
import type { PollResult } from '../../../providers/provider.ts';
import { keyForOutput } from '../../../storage/keys.ts';
import { persist } from '../../../storage/persist.ts';
import { newId } from '../../ids.ts';
import type { StoredOutput } from '../settle.ts';
import { applyToHeld, jobParams, updateJob } from '../store.ts';
import { deleteIfEndedWithout } from './settle.ts';
import { Abandoned, type StepInput, type StepOutcome } from './step.ts';

/** A store taking longer than this shows the job as `uploading` (80 %) to its watchers. */
const UPLOADING_SHOWN_AFTER_MS = 500;

/** What persist hands to settle. */
export interface Persisted {
  stored: StoredOutput[];
  paid: number;
}

/**
 * Stores every result the provider returned (download to a temp file, sniff, hash, upload) and hands
 * the stored outputs to settle. Outputs that could not be stored are refunded there; when none could
 * be, the job fails with the first error. Progress is written at most once a second.
 */
export async function persistStep(input: StepInput<PollResult>): Promise<StepOutcome> {
  const { job, deps, options, owner } = input;
  // Aborted by the runner (shutdown, lost lease) or when the `uploading` write finds the job gone.
  // (One controller that follows the runner's signal: `AbortSignal.any` costs more per step.)
  const abort = new AbortController();
  const signal = abort.signal;
  const follow = () => abort.abort(input.signal.reason);
  if (input.signal.aborted) follow();
  else input.signal.addEventListener('abort', follow, { once: true });
  const results = input.carry.results ?? [];
  const params = jobParams(job);
  const paid = (params.n as number | undefined) ?? 1;
  const model = findModel(job.model);
  const stored: StoredOutput[] = [];
  /** Keys whose upload failed: an upload whose answer was lost may have stored the object anyway. */
  const unconfirmed: string[] = [];
  let firstError: AppError | null = null;
  const write = (progress: number) =>
    updateJob(
      deps.db,
      job.id,
      { stage: 'uploading', progress },
      { status: ['running'], leaseOwner: owner },
    ).then((ok) => {
      if (ok) {
        applyToHeld(job, { stage: 'uploading', progress });
        deps.events.notify(job.id, job);
      } else abort.abort();
      return ok;
    });
  // A store that takes a moment shows as `uploading`; a quick one goes straight to settle, one write
  // fewer per job. Either way settle is guarded by the lease, and a job canceled meanwhile has what
  // was stored for it deleted there.
  let lastWrite = Date.now();
  const shown = setTimeout(() => {
    lastWrite = Date.now();
    void write(80).catch(() => undefined);
  }, UPLOADING_SHOWN_AFTER_MS);
  try {
    for (const [index, source] of results.slice(0, paid).entries()) {
      let key: string | undefined;
      const keyFor = keyForOutput({
        userId: job.user_id,
        jobId: job.id,
        index,
        date: new Date(job.created_at),
        prefix: options.prefix,
      });
      try {
        const out = await persist(
          {
            storage: deps.storage,
            tmpDir: options.tmpDir,
            allowPrivateNetwork: options.allowPrivateNetwork,
            maxImageBytes: options.maxImageBytes,
            maxVideoBytes: options.maxVideoBytes,
          },
          {
            source,
            kind: job.kind,
            keyFor: (ext) => {
              key = keyFor(ext);
              return key;
            },
            signal,
            onProgress: (stage, done, total) => {
              if (stage !== 'uploading' || !total || Date.now() - lastWrite < 1000) return;
              lastWrite = Date.now();
              const share = (index + done / total) / Math.max(1, results.length);
              void write(80 + Math.floor(share * 19)).catch(() => undefined);
            },
          },
        );
        stored.push({
          id: newId(),
          kind: job.kind,
          key: out.key,
          url: out.url,
          size: out.size,
          contentType: out.contentType,
          sha256: out.sha256,
          // Every key SPEC names is there, null when it does not apply or is unknown (an image's
          // duration, a seed nobody chose, the host of a result that came as bytes).
          meta: {
            width: out.width ?? null,
            height: out.height ?? null,
            duration_seconds: out.durationSeconds ?? null,
            provider: job.provider,
            model: job.model,
            provider_model: model?.providerModel ?? null,
            seed: typeof params.seed === 'number' ? params.seed : null,
            source_host: out.sourceHost ?? null,
          },
        });
      } catch (error) {
        if (signal.aborted) {
          // Canceled mid-upload: what was stored before is nobody's now.
          await deleteIfEndedWithout(deps, job.id, stored).catch(() => undefined);
          throw new Abandoned();
        }
        if (key && isAppError(error) && error.code === 'STORAGE_UPLOAD_FAILED') unconfirmed.push(key);
        logger.warn('job: could not store an output', { jobId: job.id, index, error });
        firstError ??= isAppError(error)
          ? error
          : new AppError('STORAGE_UPLOAD_FAILED', 'Could not store the result');
      }
    }
  } finally {
    clearTimeout(shown);
    input.signal.removeEventListener('abort', follow);
  }
  if (stored.length === 0) {
    const error = firstError ?? new AppError('PROVIDER_FAILED', 'The provider returned no result');
    return { kind: 'fail', code: error.code, message: error.message, unconfirmed };
  }
  return { kind: 'next', step: 'settle', carry: { stored, paid } satisfies Persisted };
}
