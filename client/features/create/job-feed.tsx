import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useLocation } from 'react-router';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { type Translate, useI18n } from '../../i18n/index.tsx';
import { describeJob } from '../../lib/describe.ts';
import { describeJobError } from '../../lib/errors.ts';
import { formatDateTime } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Media } from '../../ui/media.tsx';
import { type FeedJob, feedQueryOptions } from './feed-cache.ts';
import { isFinal, newer, unwrapSnapshot } from './snapshots.ts';
import { useModelName } from './use-models.ts';

export interface FeedActions {
  onReuse: (job: FeedJob) => void;
  onRetry: (job: FeedJob) => void;
  onAnimate: (job: FeedJob, output: OutputView) => void;
}

const PROMPT_SAID = 60;

/** What the live region says when a job ends: its outcome and the start of its prompt. */
function settledText(job: FeedJob, t: Translate): string {
  const prompt = job.prompt.length > PROMPT_SAID ? `${job.prompt.slice(0, PROMPT_SAID)}…` : job.prompt;
  if (job.status === 'succeeded') return t('feed.announce.succeeded', { prompt });
  if (job.status === 'canceled') return t('feed.announce.canceled', { prompt });
  return t('feed.announce.failed', { prompt, reason: t(describeJobError(job.error).messageKey) });
}

/**
 * The sentence for a polite live region when a job in the list ends while the page is open: one seen
 * running that is now final, or a new job at the top that arrived final (an image answered at once).
 * Jobs already final at the first load, or older ones brought by "load more", are not news.
 */
function useSettledAnnouncement(jobs: FeedJob[], loaded: boolean): string {
  const { t } = useI18n();
  const known = useRef<Map<string, boolean>>(undefined);
  const [text, setText] = useState('');
  useEffect(() => {
    if (!loaded) return;
    const before = known.current;
    known.current = new Map(jobs.map((job) => [job.id, isFinal(job)]));
    if (!before) return;
    const newest = Math.max(
      0,
      ...jobs.filter((job) => before.has(job.id)).map((job) => new Date(job.createdAt).getTime()),
    );
    const ended = jobs.filter((job) => {
      if (!isFinal(job)) return false;
      const wasFinal = before.get(job.id);
      return wasFinal === false || (wasFinal === undefined && new Date(job.createdAt).getTime() >= newest);
    });
    if (ended.length) setText(ended.map((job) => settledText(job, t)).join(' '));
  }, [jobs, loaded, t]);
  return text;
}

/**
 * The user's recent jobs, newest first: running ones live over jobs.watch, finished ones with their
 * outputs, failed ones with the reason and a Retry. The same list after a reload or in a second tab.
 */
export default function JobFeed({
  pendingImage,
  ...actions
}: FeedActions & { pendingImage?: { n: number; size?: string } }) {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const feed = useInfiniteQuery(feedQueryOptions(trpc));
  const jobs = feed.data?.pages.flatMap((p) => p.items) ?? [];
  const announcement = useSettledAnnouncement(jobs, Boolean(feed.data));
  // A ledger row links to /create#job-<id>: bring that job into view once the feed has it.
  const { hash } = useLocation();
  const wanted = hash.startsWith('#job-');
  const target = wanted && jobs.some((j) => `#job-${j.id}` === hash);
  // An older job than the feed's first page: load on until it shows (at most 20 pages).
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = feed;
  const pages = feed.data?.pages.length ?? 0;
  useEffect(() => {
    if (wanted && !target && feed.data && hasNextPage && !isFetchingNextPage && pages < 20)
      void fetchNextPage();
  }, [wanted, target, feed.data, hasNextPage, isFetchingNextPage, pages, fetchNextPage]);
  useEffect(() => {
    if (!target) return;
    const node = document.getElementById(hash.slice(1));
    node?.scrollIntoView({ block: 'center' });
    node?.focus({ preventScroll: true });
  }, [target, hash]);
  const [confirming, setConfirming] = useState<OutputView>();
  const remove = useMutation(
    trpc.outputs.delete.mutationOptions({
      onSuccess: () => {
        setConfirming(undefined);
        void queryClient.invalidateQueries(trpc.jobs.list.pathFilter());
        void queryClient.invalidateQueries(trpc.outputs.pathFilter());
      },
    }),
  );

  return (
    <section className="feed" aria-labelledby="feed-title" data-testid="feed">
      <h2 id="feed-title" className="feed-title">
        {t('feed.title')}
      </h2>
      <p className="sr-only" role="status" data-testid="feed-announcer">
        {announcement}
      </p>
      {pendingImage && (
        <article className="feed-job card" aria-busy="true" data-testid="feed-pending">
          <div className="feed-tiles" role="img" aria-label={t('feed.pending', { n: pendingImage.n })}>
            {Array.from({ length: pendingImage.n }, (_, i) => (
              <div
                key={i}
                className="feed-tile skeleton"
                style={{ aspectRatio: (pendingImage.size ?? '1x1').replace('x', ' / ') }}
              />
            ))}
          </div>
        </article>
      )}
      {feed.error && <ErrorNotice error={feed.error} />}
      {!feed.isPending && !feed.error && jobs.length === 0 && !pendingImage && (
        <div className="results-empty">
          <p>{t('feed.empty')}</p>
        </div>
      )}
      {jobs.map((job) => (
        <JobCard key={job.id} job={job} {...actions} onDelete={setConfirming} />
      ))}
      {feed.hasNextPage && (
        <div className="list-end">
          <button
            type="button"
            className="btn btn-secondary"
            disabled={feed.isFetchingNextPage}
            onClick={() => void feed.fetchNextPage()}
          >
            {t('common.loadMore')}
          </button>
        </div>
      )}
      <ConfirmDialog
        open={Boolean(confirming)}
        message={
          <>
            {t('feed.deleteConfirm', { kind: t(`kind.${confirming?.kind ?? 'image'}`) })}
            {remove.error && <ErrorNotice error={remove.error} />}
          </>
        }
        confirmLabel={t('common.delete')}
        busy={remove.isPending}
        onConfirm={() => confirming && remove.mutate({ id: confirming.id })}
        onCancel={() => {
          remove.reset();
          setConfirming(undefined);
        }}
      />
    </section>
  );
}

function JobCard({
  job: listed,
  onReuse,
  onRetry,
  onAnimate,
  onDelete,
}: FeedActions & { job: FeedJob; onDelete: (output: OutputView) => void }) {
  const { t, locale } = useI18n();
  const modelName = useModelName();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<FeedJob>();
  const job = live ? newer(listed, { ...listed, ...live, outputs: listed.outputs }) : listed;
  const final = isFinal(job);

  const watch = useSubscription(
    trpc.jobs.watch.subscriptionOptions(
      { id: listed.id },
      {
        enabled: !isFinal(listed),
        onData: (event: unknown) => {
          const snapshot = unwrapSnapshot(event);
          if (snapshot) setLive((current) => newer(current, { ...listed, ...snapshot }));
        },
      },
    ),
  );
  // A refused watch (over the open-watch cap while many jobs run, or the server restarting) is tried again
  // a little later: the new stream starts from the job as it is then.
  const { status: watchStatus, reset: resetWatch } = watch;
  useEffect(() => {
    if (watchStatus !== 'error') return;
    const timer = setTimeout(resetWatch, 5_000);
    return () => clearTimeout(timer);
  }, [watchStatus, resetWatch]);
  // At the final status, fetch the list again for the outputs (the stream carries only the job) and the balance.
  const liveFinal = live ? isFinal(live) : false;
  useEffect(() => {
    if (!liveFinal || isFinal(listed)) return;
    void queryClient.invalidateQueries(trpc.jobs.list.pathFilter());
    void queryClient.invalidateQueries(trpc.credits.pathFilter());
    void queryClient.invalidateQueries(trpc.outputs.pathFilter());
  }, [liveFinal, listed, queryClient, trpc]);

  const cancel = useMutation(
    trpc.jobs.cancel.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries(trpc.jobs.list.pathFilter());
        void queryClient.invalidateQueries(trpc.credits.pathFilter());
      },
    }),
  );

  const percent = Math.round(Math.min(100, Math.max(0, job.progress)));
  const p = job.params;
  const summary = describeJob(
    {
      kind: job.kind,
      model: job.model,
      durationSeconds: typeof p.durationSeconds === 'number' ? p.durationSeconds : undefined,
      resolution: typeof p.resolution === 'string' ? p.resolution : undefined,
      size: typeof p.size === 'string' ? p.size : undefined,
      n: typeof p.n === 'number' ? p.n : undefined,
    },
    t,
    modelName,
    { withPrompt: false },
  );
  return (
    <article
      className="feed-job card"
      id={`job-${job.id}`}
      tabIndex={-1}
      data-testid="feed-job"
      data-job-id={job.id}
      data-status={job.status}
      data-kind={job.kind}
      aria-label={job.prompt}
    >
      <div className="job-head">
        <span className={`badge badge-${job.status}`}>{t(`job.status.${job.status}`)}</span>
        <span className="job-summary">{summary}</span>
        <time className="muted small job-time" dateTime={new Date(job.createdAt).toISOString()}>
          {formatDateTime(new Date(job.createdAt), locale)}
        </time>
      </div>
      <p className="job-prompt-full">{job.prompt}</p>
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
              {t(`job.stage.${job.stage}`)} · {percent}%
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
      {/* As listed, not as streamed: a stream says succeeded before the list brings the outputs. */}
      {listed.status === 'succeeded' && listed.outputs.length === 0 && (
        <p className="muted small">{t('feed.outputsDeleted')}</p>
      )}
      {job.status === 'succeeded' && job.outputs.length > 0 && (
        <ul className={job.kind === 'video' ? 'feed-tiles feed-tiles-video' : 'feed-tiles'}>
          {job.outputs.map((output, i) => (
            <li key={output.id} className="feed-tile">
              <Media
                output={output}
                params={job.params}
                alt={t('feed.outputOf', { kind: t(`kind.${output.kind}`), i: i + 1, n: job.outputs.length })}
                testId={output.kind === 'video' ? 'result-video' : 'result-image'}
              />
              <div className="tile-actions">
                <Link className="btn btn-ghost btn-sm" to={`/gallery?id=${encodeURIComponent(output.id)}`}>
                  {t('feed.open')}
                </Link>
                <a className="btn btn-ghost btn-sm" href={output.downloadUrl || output.url} download>
                  {t('gallery.download')}
                </a>
                {output.kind === 'image' && (
                  <button
                    type="button"
                    className="btn btn-ghost btn-sm"
                    onClick={() => onAnimate(job, output)}
                  >
                    {t('feed.animate')}
                  </button>
                )}
                <button
                  type="button"
                  className="btn btn-danger-ghost btn-sm"
                  onClick={() => onDelete(output)}
                >
                  {t('common.delete')}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {job.status === 'failed' && <ErrorNotice info={describeJobError(job.error)} quiet />}
      {final && job.refunded > 0 && <p className="muted small">{t('job.refunded', { n: job.refunded })}</p>}
      <div className="job-foot">
        <button type="button" className="btn btn-secondary btn-sm" onClick={() => onReuse(job)}>
          {t('feed.reuse')}
        </button>
        {(job.status === 'failed' || job.status === 'canceled') && (
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => onRetry(job)}>
            {t('feed.retry')}
          </button>
        )}
      </div>
    </article>
  );
}
