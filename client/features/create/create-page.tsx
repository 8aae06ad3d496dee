import { type InfiniteData, useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, lazy, Suspense, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useSearchParams } from 'react-router';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH, SEED_MAX } from '../../../shared/limits.ts';
import { defaultModel, type ModelInfo } from '../../../shared/models.ts';
import { quote } from '../../../shared/pricing.ts';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { formatNumber, newIdempotencyKey } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { useBalance } from '../layout/app-shell.tsx';
import {
  FEED_PAGE_SIZE,
  type FeedJob,
  type FeedPage,
  feedQueryOptions,
  upsertFeedJob,
} from './feed-cache.ts';
import { formFromJob, useCreateForm } from './form-state.ts';

// The feed is its own chunk (the first screen's JS stays small); its data is prefetched meanwhile.
const JobFeed = lazy(() => import('./job-feed.tsx'));

import { SubmitButton } from '../../ui/submit-button.tsx';
import { modelLabel, sizeLabel } from './model-options.ts';
import { PromptField } from './prompt-field.tsx';
import { useModels } from './use-models.ts';

const TABS = ['image', 'video'] as const;
type Tab = (typeof TABS)[number];

/** The tab a key moves to (WAI-ARIA tabs: ←/→ wrap around, Home/End go to the first/last), if any. */
const tabForKey = (key: string, current: Tab): Tab | undefined => {
  const i = TABS.indexOf(current);
  if (key === 'ArrowRight') return TABS[(i + 1) % TABS.length];
  if (key === 'ArrowLeft') return TABS[(i - 1 + TABS.length) % TABS.length];
  if (key === 'Home') return TABS[0];
  if (key === 'End') return TABS[TABS.length - 1];
  return undefined;
};

/** How long Generate stays locked after a press at least: a double-click is one job, one charge. */
export const GENERATE_LOCK_MS = 1000;
/** The prompt of the dry run that checks a first frame (any prompt will do: only the image is in question). */
const FIRST_FRAME_PROBE = 'first frame check';
/** The dry run's reasons that mean the first frame cannot be animated. */
const FIRST_FRAME_GONE = new Set(['SOURCE_IMAGE_NOT_FOUND', 'NOT_AN_IMAGE']);

const priceLabel = (model: ModelInfo, t: ReturnType<typeof useI18n>['t']) =>
  'perImage' in model.price
    ? t('create.priceImage', { n: model.price.perImage })
    : t('create.priceVideo', { n: model.price.perSecond });

type ImageInput = {
  prompt: string;
  negativePrompt?: string;
  model?: string;
  size?: string;
  n?: number;
  seed?: number;
};
type VideoInput = {
  prompt: string;
  model?: string;
  resolution?: '480p' | '720p' | '1080p';
  durationSeconds?: number;
  imageOutputId?: string;
  seed?: number;
};

export function CreatePage() {
  const { t, locale } = useI18n();
  usePageTitle(t('create.title'));
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const tab: Tab = params.get('tab') === 'video' ? 'video' : 'image';
  const imageOutputId = params.get('image');
  const firstFrameThumb = (location.state as { thumbnailUrl?: string } | null)?.thumbnailUrl;
  const promptRef = useRef<HTMLTextAreaElement>(null);
  const [form, update] = useCreateForm();
  const [restored, setRestored] = useState(false);
  const balance = useBalance();

  // "Use this prompt" from the gallery arrives as ?prompt=; take it once, then tidy the URL.
  useEffect(() => {
    const fromUrl = params.get('prompt');
    if (fromUrl === null) return;
    update({ prompt: fromUrl });
    setParams(
      (p) => {
        p.delete('prompt');
        return p;
      },
      { replace: true, state: location.state },
    );
  }, [params, setParams, location.state, update]);

  useEffect(() => {
    void queryClient.prefetchInfiniteQuery(feedQueryOptions(trpc));
  }, [queryClient, trpc]);

  // The first frame's thumbnail: handed over by the gallery or the feed, else found among the feed's outputs
  // (read from its cache: this observer never fetches).
  const feedThumbnail = useInfiniteQuery({
    ...feedQueryOptions(trpc),
    enabled: false,
    select: (data) =>
      data.pages
        .flatMap((page) => page.items.flatMap((job) => job.outputs))
        .find((output) => output.id === imageOutputId)?.thumbnailUrl,
  }).data;
  const frameThumbnail = firstFrameThumb ?? feedThumbnail;
  // Whether the first frame can be animated, asked as soon as it is chosen: a dry run (free, nothing is
  // written) looks the image up, so a stale or mistyped ?image= is said at once, not when Generate fails.
  const frameCheck = useMutation(trpc.ai.generateVideo.mutationOptions());
  useEffect(() => {
    if (tab === 'video' && imageOutputId)
      frameCheck.mutate({ prompt: FIRST_FRAME_PROBE, imageOutputId, dryRun: true });
  }, [tab, imageOutputId]);
  const frameError = frameCheck.error ? describeError(frameCheck.error, t) : undefined;
  const frameGone =
    FIRST_FRAME_GONE.has(frameError?.reason ?? '') || Boolean(frameError?.fieldErrors?.imageOutputId);

  const models = useModels();
  const all = models.data ?? [];
  const imageModels = all.filter((m) => m.kind === 'image');
  const videoModels = all.filter((m) => m.kind === 'video' && (imageOutputId || !m.requiresImageInput));
  const imageModel =
    imageModels.find((m) => m.id === form.imageModelId) ?? defaultModel('image', imageModels) ?? undefined;
  const videoModel =
    videoModels.find((m) => m.id === form.videoModelId) ??
    defaultModel('video', videoModels, { withImage: Boolean(imageOutputId) }) ??
    undefined;
  const model = tab === 'image' ? imageModel : videoModel;

  // Keep the choices valid for the chosen model.
  const chosenSize = imageModel?.sizes?.includes(form.size ?? '') ? form.size : imageModel?.sizes?.[0];
  const chosenN = Math.min(form.n, imageModel?.maxN ?? 1);
  const chosenResolution = videoModel?.resolutions?.includes(form.resolution as never)
    ? form.resolution
    : videoModel?.resolutions?.[0];
  const chosenDuration = videoModel?.durations?.includes(form.duration ?? -1)
    ? form.duration
    : videoModel?.durations?.[0];

  const cost = useMemo(() => {
    if (!model) return undefined;
    return model.kind === 'image'
      ? quote(model, { n: chosenN })
      : quote(model, { durationSeconds: chosenDuration, resolution: chosenResolution });
  }, [model, chosenN, chosenDuration, chosenResolution]);
  const available = balance.data?.balance;
  const short = cost !== undefined && available !== undefined && cost > available;

  const seedValue = form.seed.trim() === '' ? undefined : Number(form.seed);
  const seedInvalid =
    seedValue !== undefined && (!Number.isInteger(seedValue) || seedValue < 0 || seedValue > SEED_MAX);

  const imageInput = (): ImageInput => ({
    prompt: form.prompt,
    negativePrompt:
      form.negativePrompt.trim() && imageModel?.supportsNegativePrompt ? form.negativePrompt : undefined,
    model: imageModel?.id,
    size: chosenSize,
    n: chosenN,
    seed: seedValue,
  });
  const videoInput = (): VideoInput => ({
    prompt: form.prompt,
    model: videoModel?.id,
    resolution: chosenResolution as VideoInput['resolution'],
    durationSeconds: chosenDuration,
    imageOutputId: imageOutputId ?? undefined,
    seed: seedValue,
  });

  // The job feed's cache: a new job goes in at the top as soon as the server answers.
  const feedKey = trpc.jobs.list.infiniteQueryKey({ limit: FEED_PAGE_SIZE });
  const showInFeed = (job: FeedJob) =>
    queryClient.setQueryData<InfiniteData<FeedPage>>(feedKey, (data) => upsertFeedJob(data, job));
  const afterStart = () => {
    void queryClient.invalidateQueries(trpc.credits.pathFilter());
    void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
    void queryClient.invalidateQueries(trpc.jobs.list.pathFilter());
  };

  // One press, one job: a ref guards against a second press in the same frame, the state shows it.
  const lockRef = useRef(false);
  const [locked, setLocked] = useState(false);
  const lockedAt = useRef(0);
  const lock = () => {
    lockRef.current = true;
    lockedAt.current = Date.now();
    setLocked(true);
  };
  const unlockSoon = () => {
    const wait = Math.max(0, GENERATE_LOCK_MS - (Date.now() - lockedAt.current));
    setTimeout(() => {
      lockRef.current = false;
      setLocked(false);
    }, wait);
  };

  const generateImage = useMutation(
    trpc.ai.generateImage.mutationOptions({
      onSuccess: (result) => showInFeed({ ...result.job, outputs: result.outputs }),
      onError: (error) => {
        if (describeError(error, t).code === 'CONTENT_REJECTED') promptRef.current?.focus();
      },
      onSettled: () => {
        afterStart();
        void queryClient.invalidateQueries(trpc.outputs.pathFilter());
        unlockSoon();
      },
    }),
  );
  const generateVideo = useMutation(
    trpc.ai.generateVideo.mutationOptions({
      onSuccess: (result) => showInFeed({ ...result.job, outputs: [] }),
      onError: (error) => {
        if (describeError(error, t).code === 'CONTENT_REJECTED') promptRef.current?.focus();
      },
      onSettled: () => {
        afterStart();
        unlockSoon();
      },
    }),
  );

  // The estimate is a dry run of exactly what Generate would send; it follows the form once asked for.
  const estimate = useMutation(trpc.ai.generateImage.mutationOptions());
  const estimateVideo = useMutation(trpc.ai.generateVideo.mutationOptions());
  const [estimating, setEstimating] = useState(false);
  const signature = JSON.stringify(tab === 'image' ? imageInput() : videoInput());
  useEffect(() => {
    if (!estimating || !form.prompt.trim() || seedInvalid) return;
    const input = JSON.parse(signature) as ImageInput & VideoInput;
    const timer = setTimeout(() => {
      if (tab === 'image') estimate.mutate({ ...input, dryRun: true });
      else estimateVideo.mutate({ ...input, dryRun: true });
    }, 250);
    return () => clearTimeout(timer);
  }, [estimating, signature, tab]);
  const estimateState = tab === 'image' ? estimate : estimateVideo;
  const estimateData = estimateState.data as { quote?: number; job?: { cost: number } } | undefined;
  const estimateQuote =
    estimating && estimateData && !estimateState.isPending
      ? (estimateData.quote ?? estimateData.job?.cost)
      : undefined;

  const error = tab === 'image' ? generateImage.error : generateVideo.error;
  const errorInfo = error ? describeError(error, t) : undefined;

  const start = (kind: Tab, input: ImageInput | VideoInput) => {
    if (lockRef.current) return;
    lock();
    generateImage.reset();
    generateVideo.reset();
    setRestored(false);
    if (kind === 'image')
      generateImage.mutate({ ...(input as ImageInput), idempotencyKey: newIdempotencyKey() });
    else generateVideo.mutate({ ...(input as VideoInput), idempotencyKey: newIdempotencyKey() });
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!model || seedInvalid || short || !form.prompt.trim()) return;
    start(tab, tab === 'image' ? imageInput() : videoInput());
  };

  const setTab = (next: Tab, extra: Record<string, string | null> = {}) =>
    setParams(
      (p) => {
        p.set('tab', next);
        for (const [key, value] of Object.entries(extra)) {
          if (value === null) p.delete(key);
          else p.set(key, value);
        }
        return p;
      },
      { replace: true, state: location.state },
    );
  const removeFirstFrame = () => setTab('video', { image: null });

  const reuse = (job: FeedJob) => {
    update(formFromJob(job));
    const image = typeof job.params.imageOutputId === 'string' ? job.params.imageOutputId : null;
    setTab(job.kind, { image: job.kind === 'video' ? image : null });
    setRestored(true);
    promptRef.current?.focus();
  };
  const retry = (job: FeedJob) => {
    const p = job.params as Record<string, never>;
    if (job.kind === 'image')
      start('image', {
        prompt: job.prompt,
        model: job.model,
        size: p.size,
        n: p.n,
        seed: p.seed,
        negativePrompt: p.negativePrompt,
      });
    else
      start('video', {
        prompt: job.prompt,
        model: job.model,
        resolution: p.resolution,
        durationSeconds: p.durationSeconds,
        imageOutputId: p.imageOutputId,
        seed: p.seed,
      });
  };
  const animate = (job: FeedJob, output: OutputView) => {
    // A new video from that image, not the image's settings restored: the earlier note would mislead.
    setRestored(false);
    update({ prompt: job.prompt });
    setParams({ tab: 'video', image: output.id }, { state: { thumbnailUrl: output.thumbnailUrl } });
    promptRef.current?.focus();
  };

  const disabledReason = short
    ? t('create.short', { balance: formatNumber(available ?? 0, locale), n: formatNumber(cost ?? 0, locale) })
    : undefined;

  return (
    <div className="page create">
      <h1 className="sr-only">{t('create.title')}</h1>
      <div className="create-grid">
        <form className="card create-form" onSubmit={submit} aria-label={t('create.title')} noValidate>
          <div className="tabs" role="tablist" aria-label={t('create.title')}>
            {TABS.map((kind) => (
              <button
                key={kind}
                type="button"
                role="tab"
                id={`tab-${kind}`}
                aria-selected={tab === kind}
                aria-controls="create-panel"
                tabIndex={tab === kind ? 0 : -1}
                className="tab"
                onClick={() => setTab(kind)}
                onKeyDown={(e) => {
                  const next = tabForKey(e.key, kind);
                  if (!next) return;
                  e.preventDefault();
                  setTab(next);
                  document.getElementById(`tab-${next}`)?.focus();
                }}
              >
                {kind === 'image' ? t('create.image') : t('create.video')}
              </button>
            ))}
          </div>
          <div id="create-panel" role="tabpanel" aria-labelledby={`tab-${tab}`} className="stack">
            {restored && (
              <p className="notice notice-info" role="status">
                {t('feed.restored')}
              </p>
            )}
            <PromptField
              id="prompt"
              label={t('create.prompt')}
              value={form.prompt}
              onChange={(prompt) => update({ prompt })}
              max={PROMPT_MAX_LENGTH}
              placeholder={t('create.promptPlaceholder')}
              invalid={errorInfo?.code === 'CONTENT_REJECTED' || Boolean(errorInfo?.fieldErrors?.prompt)}
              error={errorInfo?.fieldErrors?.prompt}
              inputRef={promptRef}
              required
            />
            {tab === 'video' && imageOutputId && (
              <div className="first-frame" data-testid="first-frame">
                {frameThumbnail && !frameGone ? (
                  <img src={frameThumbnail} alt="" width={56} height={56} />
                ) : (
                  <span className="first-frame-blank" aria-hidden="true" />
                )}
                <span className="small">{t('create.firstFrame')}</span>
                <button type="button" className="btn btn-ghost btn-sm" onClick={removeFirstFrame}>
                  {t('create.removeFirstFrame')}
                </button>
              </div>
            )}
            {tab === 'video' && imageOutputId && frameGone && (
              <p className="notice notice-error" role="alert" data-testid="first-frame-gone">
                {frameError?.reason === 'NOT_AN_IMAGE'
                  ? t('reason.NOT_AN_IMAGE')
                  : t('reason.SOURCE_IMAGE_NOT_FOUND')}{' '}
                <Link to="/gallery?kind=image">{t('create.openGallery')}</Link>
              </p>
            )}

            {models.isPending ? (
              <Loading />
            ) : models.error ? (
              <ErrorNotice error={models.error} />
            ) : !model ? (
              <Empty>{t('create.noModels')}</Empty>
            ) : (
              <>
                <label className="field">
                  <span className="field-label">{t('create.model')}</span>
                  <select
                    value={model.id}
                    data-testid="model-select"
                    onChange={(e) =>
                      update(
                        tab === 'image' ? { imageModelId: e.target.value } : { videoModelId: e.target.value },
                      )
                    }
                  >
                    {(tab === 'image' ? imageModels : videoModels).map((m) => (
                      <option key={m.id} value={m.id}>
                        {modelLabel(m, locale)} — {priceLabel(m, t)}
                      </option>
                    ))}
                  </select>
                </label>

                {model.kind === 'image' ? (
                  <div className="field-grid field-grid-size">
                    <label className="field">
                      <span className="field-label">{t('create.size')}</span>
                      <select value={chosenSize} onChange={(e) => update({ size: e.target.value })}>
                        {model.sizes?.map((s) => (
                          <option key={s} value={s}>
                            {sizeLabel(s)}
                          </option>
                        ))}
                      </select>
                    </label>
                    <label className="field">
                      <span className="field-label">{t('create.count')}</span>
                      <select value={chosenN} onChange={(e) => update({ n: Number(e.target.value) })}>
                        {Array.from({ length: model.maxN }, (_, i) => i + 1).map((count) => (
                          <option key={count} value={count}>
                            {count}
                          </option>
                        ))}
                      </select>
                    </label>
                  </div>
                ) : (
                  <div className="field-grid">
                    <label className="field">
                      <span className="field-label">{t('create.resolution')}</span>
                      <select
                        value={chosenResolution}
                        onChange={(e) => update({ resolution: e.target.value })}
                      >
                        {model.resolutions?.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </label>
                    <label className="field">
                      <span className="field-label">{t('create.duration')}</span>
                      <select
                        value={chosenDuration}
                        onChange={(e) => update({ duration: Number(e.target.value) })}
                      >
                        {/* In order (the catalogue lists the default first). */}
                        {[...(model.durations ?? [])]
                          .sort((a, b) => a - b)
                          .map((d) => (
                            <option key={d} value={d}>
                              {t('create.seconds', { n: d })}
                            </option>
                          ))}
                      </select>
                    </label>
                  </div>
                )}

                <details className="advanced" open={Boolean(form.seed || form.negativePrompt) || undefined}>
                  <summary>{t('create.advanced')}</summary>
                  <div className="stack">
                    {model.supportsNegativePrompt && tab === 'image' && (
                      <PromptField
                        id="negative-prompt"
                        label={t('create.negativePrompt')}
                        value={form.negativePrompt}
                        onChange={(negativePrompt) => update({ negativePrompt })}
                        max={NEGATIVE_PROMPT_MAX_LENGTH}
                        placeholder={t('create.negativePlaceholder')}
                        rows={2}
                      />
                    )}
                    {/* The error sits outside the label so it describes the field instead of renaming it. */}
                    <div className="field">
                      <label className="field-label" htmlFor="seed">
                        {t('create.seed')}
                      </label>
                      <input
                        id="seed"
                        type="number"
                        inputMode="numeric"
                        min={0}
                        max={SEED_MAX}
                        step={1}
                        value={form.seed}
                        placeholder={t('create.seedPlaceholder')}
                        aria-invalid={seedInvalid || undefined}
                        aria-describedby={seedInvalid ? 'seed-error' : undefined}
                        data-testid="seed"
                        onChange={(e) => update({ seed: e.target.value })}
                      />
                      {seedInvalid && (
                        <span className="field-error" id="seed-error">
                          {t('create.seedRange', { max: formatNumber(SEED_MAX, locale) })}
                        </span>
                      )}
                    </div>
                  </div>
                </details>

                {model.requiresImageInput && !imageOutputId && (
                  <p className="notice">
                    {t('create.needsImage')} <Link to="/gallery?kind=image">{t('create.openGallery')}</Link>
                  </p>
                )}

                <div className="form-actions">
                  <button
                    type="button"
                    className="btn btn-secondary"
                    disabled={!form.prompt.trim() || seedInvalid}
                    onClick={() => setEstimating(true)}
                    data-testid="estimate"
                  >
                    {t('create.estimate')}
                  </button>
                  <SubmitButton
                    className="btn btn-primary btn-grow"
                    busy={locked}
                    disabled={!form.prompt.trim() || seedInvalid || short}
                    aria-describedby={disabledReason ? 'generate-reason' : undefined}
                    data-testid="generate"
                  >
                    {locked
                      ? t('create.generating')
                      : t('create.generate', { n: formatNumber(cost ?? 0, locale) })}
                  </SubmitButton>
                </div>
                {disabledReason && (
                  <p className="notice" id="generate-reason" data-testid="generate-reason">
                    {disabledReason}{' '}
                    <Link to="/credits#redeem" className="notice-action">
                      {t('create.shortAction')} →
                    </Link>
                  </p>
                )}
                {estimateQuote !== undefined && (
                  <p className="notice notice-info" role="status" data-testid="estimate-result">
                    {t('create.estimateResult', { n: estimateQuote })}
                  </p>
                )}
                {estimating && estimateState.error && <ErrorNotice error={estimateState.error} />}
                {/* Refused for want of credits: the line above already says so, with its link. */}
                {error && !(disabledReason && errorInfo?.code === 'INSUFFICIENT_CREDITS') && (
                  <ErrorNotice info={errorInfo} />
                )}
              </>
            )}
          </div>
        </form>

        <Suspense fallback={<Loading />}>
          <JobFeed
            pendingImage={generateImage.isPending ? { n: chosenN, size: chosenSize } : undefined}
            onReuse={reuse}
            onRetry={retry}
            onAnimate={animate}
          />
        </Suspense>
      </div>
    </div>
  );
}
