import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useState } from 'react';
import type { JobView } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { describeJobError } from '../../lib/errors.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { OutputTile } from './output-tile.tsx';

const FINAL = new Set(['succeeded', 'failed', 'canceled']);
export const isFinal = (job: Pick<JobView, 'status'>) => FINAL.has(job.status);

/** jobs.watch yields tracked events; accept both `{id, data}` and a bare snapshot. */
export function unwrapSnapshot(event: unknown): JobView | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const record = event as { data?: unknown; status?: unknown };
  if (record.data && typeof record.data === 'object' && 'status' in record.data)
    return record.data as JobView;
  if (typeof record.status === 'string') return event as JobView;
  return undefined;
}

/** Keeps the newest snapshot: an older statusSequence never overwrites a newer one. */
export const newer = (current: JobView | undefined, next: JobView) =>
  !current || next.statusSequence >= current.statusSequence ? next : current;

/**
 * A job (usually a video), live: stage and progress from the jobs.watch SSE stream, the player when it succeeds.
 * Reattaches by id after a reload (the id lives in the URL and in localStorage).
 */
export function JobPanel({
  jobId,
  reattached,
  onDismiss,
  onFinal,
}: {
  jobId: string;
  reattached?: boolean;
  onDismiss: () => void;
  /** Called once the job reaches a final status (the page stops remembering it across reloads). */
  onFinal?: () => void;
}) {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<JobView | undefined>();

  const initial = useQuery(trpc.jobs.get.queryOptions({ id: jobId }, { staleTime: 0 }));
  const base = initial.data?.job;
  const job = base && live ? newer(base, live) : (live ?? base);
  const final = job ? isFinal(job) : false;

  const watch = useSubscription(
    trpc.jobs.watch.subscriptionOptions(
      { id: jobId },
      {
        enabled: Boolean(base) && !final,
        onData: (event: unknown) => {
          const snapshot = unwrapSnapshot(event);
          if (snapshot) setLive((current) => newer(current, snapshot));
        },
      },
    ),
  );

  // If the stream breaks (proxy, network), fall back to polling so the page still finishes.
  const polling = !final && watch.status === 'error';
  useEffect(() => {
    if (!polling) return;
    const timer = setInterval(() => void initial.refetch(), 2500);
    return () => clearInterval(timer);
  }, [polling, initial]);

  // On the final status, fetch the outputs (the watch stream carries only the job) and the new balance.
  useEffect(() => {
    if (final) onFinal?.();
  }, [final, onFinal]);
  useEffect(() => {
    if (!final || !job) return;
    if (initial.isFetching || (initial.data && isFinal(initial.data.job))) return;
    void initial.refetch();
    void queryClient.invalidateQueries(trpc.credits.pathFilter());
    void queryClient.invalidateQueries(trpc.outputs.pathFilter());
  }, [final, job, initial, queryClient, trpc]);

  const cancel = useMutation(
    trpc.jobs.cancel.mutationOptions({
      onSuccess: (result) => {
        setLive((current) => newer(current, result.job));
        void queryClient.invalidateQueries(trpc.credits.pathFilter());
      },
    }),
  );

  if (initial.error && !job) return <ErrorNotice error={initial.error} />;
  if (!job) {
    return (
      <div className="job-panel card" aria-busy="true">
        <div className="progress">
          <div className="progress-bar indeterminate" />
        </div>
      </div>
    );
  }

  // Progress is 0..100 (SPEC §6 jobs.progress).
  const percent = Math.round(Math.min(100, Math.max(0, job.progress)));
  const outputs = initial.data?.outputs ?? [];
  return (
    <section className="job-panel card" data-testid="video-job" data-status={job.status} aria-live="polite">
      <div className="job-head">
        <span className={`badge badge-${job.status}`}>{t(`job.status.${job.status}`)}</span>
        {!final && <span className="job-stage">{t(`job.stage.${job.stage}`)}</span>}
        <span className="job-prompt muted" title={job.prompt}>
          {job.prompt}
        </span>
      </div>
      {reattached && !final && <p className="muted small">{t('job.reattached')}</p>}
      {!final && (
        <>
          <div
            className="progress"
            role="progressbar"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
            aria-label={t(`job.stage.${job.stage}`)}
          >
            <div className="progress-bar" style={{ width: `${Math.max(percent, 3)}%` }} />
          </div>
          <div className="job-actions">
            <span className="muted small" data-testid="job-progress">
              {percent}%
            </span>
            <button
              type="button"
              className="btn btn-ghost btn-sm"
              onClick={() => cancel.mutate({ id: job.id })}
              disabled={cancel.isPending}
            >
              {t('job.cancel')}
            </button>
          </div>
        </>
      )}
      {cancel.error && <ErrorNotice error={cancel.error} />}
      {job.status === 'succeeded' && (
        <div className={job.kind === 'video' ? 'results-video' : 'results-grid'}>
          {outputs.map((output) => (
            <OutputTile key={output.id} output={output} />
          ))}
        </div>
      )}
      {job.status === 'failed' && <ErrorNotice info={describeJobError(job.error)} />}
      {final && job.refunded > 0 && <p className="muted small">{t('job.refunded', { n: job.refunded })}</p>}
      {final && (
        <div className="job-actions">
          <span />
          <button type="button" className="btn btn-ghost btn-sm" onClick={onDismiss}>
            {t('job.dismiss')}
          </button>
        </div>
      )}
    </section>
  );
}
