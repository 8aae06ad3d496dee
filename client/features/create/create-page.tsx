import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation, useSearchParams } from 'react-router';
import { defaultModel, type ModelInfo } from '../../../shared/models.ts';
import { quote } from '../../../shared/pricing.ts';
import {
  type JobView,
  NEGATIVE_PROMPT_MAX_LENGTH,
  type OutputView,
  PROMPT_MAX_LENGTH,
} from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { formatNumber, newIdempotencyKey } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { JobPanel } from './job-panel.tsx';
import { aspectOf, modelLabel, sizeLabel } from './model-options.ts';
import { OutputTile } from './output-tile.tsx';
import { PromptField } from './prompt-field.tsx';

type Tab = 'image' | 'video';
/** The job being followed survives a reload through this key (and ?job= in the URL). */
export const ACTIVE_JOB_KEY = 'df.activeJob';

const storage = {
  get: () => {
    try {
      return localStorage.getItem(ACTIVE_JOB_KEY);
    } catch {
      return null;
    }
  },
  set: (id: string | null) => {
    try {
      if (id) localStorage.setItem(ACTIVE_JOB_KEY, id);
      else localStorage.removeItem(ACTIVE_JOB_KEY);
    } catch {
      // Private mode: the URL still carries the job.
    }
  },
};

const priceLabel = (model: ModelInfo, t: ReturnType<typeof useI18n>['t']) =>
  'perImage' in model.price
    ? t('create.priceImage', { n: model.price.perImage })
    : t('create.priceVideo', { n: model.price.perSecond });

export function CreatePage() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const tab: Tab = params.get('tab') === 'video' ? 'video' : 'image';
  const jobId = params.get('job');
  const imageOutputId = params.get('image');
  const firstFrameThumb = (location.state as { thumbnailUrl?: string } | null)?.thumbnailUrl;
  const promptRef = useRef<HTMLTextAreaElement>(null);

  const [prompt, setPrompt] = useState(() => params.get('prompt') ?? '');
  const [negativePrompt, setNegativePrompt] = useState('');
  const [seed, setSeed] = useState('');
  const [imageModelId, setImageModelId] = useState<string>();
  const [videoModelId, setVideoModelId] = useState<string>();
  const [size, setSize] = useState<string>();
  const [n, setN] = useState(1);
  const [resolution, setResolution] = useState<string>();
  const [duration, setDuration] = useState<number>();
  const [imageResult, setImageResult] = useState<{ job: JobView; outputs: OutputView[] }>();
  const [reattached] = useState(() => Boolean(jobId || storage.get()));

  // "Use this prompt" from the gallery arrives as ?prompt=; take it once, then tidy the URL.
  useEffect(() => {
    const fromUrl = params.get('prompt');
    if (fromUrl === null) return;
    setPrompt(fromUrl);
    setParams(
      (p) => {
        p.delete('prompt');
        return p;
      },
      { replace: true, state: location.state },
    );
  }, [params, setParams, location.state]);

  // Reattach to the job left running before a reload.
  useEffect(() => {
    if (jobId) {
      storage.set(jobId);
      return;
    }
    const saved = storage.get();
    if (saved) setParams({ tab: 'video', job: saved }, { replace: true });
  }, [jobId, setParams]);

  const models = useQuery(trpc.ai.models.queryOptions(undefined, { staleTime: 5 * 60_000 }));
  const all = models.data ?? [];
  const imageModels = all.filter((m) => m.kind === 'image');
  const videoModels = all.filter((m) => m.kind === 'video' && (imageOutputId || !m.requiresImageInput));
  const imageModel =
    imageModels.find((m) => m.id === imageModelId) ?? defaultModel('image', imageModels) ?? undefined;
  const videoModel =
    videoModels.find((m) => m.id === videoModelId) ??
    defaultModel('video', videoModels, { withImage: Boolean(imageOutputId) }) ??
    undefined;
  const model = tab === 'image' ? imageModel : videoModel;

  // Keep the choices valid for the chosen model.
  const chosenSize = imageModel?.sizes?.includes(size ?? '') ? size : imageModel?.sizes?.[0];
  const chosenN = Math.min(n, imageModel?.maxN ?? 1);
  const chosenResolution = videoModel?.resolutions?.includes(resolution as never)
    ? resolution
    : videoModel?.resolutions?.[0];
  const chosenDuration = videoModel?.durations?.includes(duration ?? -1)
    ? duration
    : videoModel?.durations?.[0];

  const cost = useMemo(() => {
    if (!model) return undefined;
    return model.kind === 'image'
      ? quote(model, { n: chosenN })
      : quote(model, { durationSeconds: chosenDuration, resolution: chosenResolution });
  }, [model, chosenN, chosenDuration, chosenResolution]);

  const seedValue = seed.trim() === '' ? undefined : Number(seed);
  const seedInvalid = seedValue !== undefined && (!Number.isInteger(seedValue) || seedValue < 0);
  const afterCharge = () => {
    void queryClient.invalidateQueries(trpc.credits.pathFilter());
    void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
  };

  const generateImage = useMutation(
    trpc.ai.generateImage.mutationOptions({
      onSuccess: (result) => {
        afterCharge();
        void queryClient.invalidateQueries(trpc.outputs.pathFilter());
        // Still running after the server's wait, or canceled meanwhile: the job panel follows and explains it.
        if (result.job.status !== 'succeeded') {
          setParams({ tab: 'image', job: result.job.id }, { replace: false });
          return;
        }
        setImageResult({ job: result.job, outputs: result.outputs });
      },
      onError: (error) => {
        afterCharge();
        if (describeError(error, t).code === 'CONTENT_REJECTED') promptRef.current?.focus();
      },
    }),
  );
  const generateVideo = useMutation(
    trpc.ai.generateVideo.mutationOptions({
      onSuccess: (result) => {
        afterCharge();
        storage.set(result.job.id);
        setParams({ tab: 'video', job: result.job.id });
      },
      onError: (error) => {
        if (describeError(error, t).code === 'CONTENT_REJECTED') promptRef.current?.focus();
      },
    }),
  );
  const estimate = useMutation({
    mutationFn: async () => {
      const client = tab === 'image' ? generateImageDry : generateVideoDry;
      return client();
    },
  });
  const dryImage = useMutation(trpc.ai.generateImage.mutationOptions());
  const dryVideo = useMutation(trpc.ai.generateVideo.mutationOptions());

  const imageInput = () => ({
    prompt,
    negativePrompt: negativePrompt.trim() && imageModel?.supportsNegativePrompt ? negativePrompt : undefined,
    model: imageModel?.id,
    size: chosenSize,
    n: chosenN,
    seed: seedValue,
  });
  const videoInput = () => ({
    prompt,
    model: videoModel?.id,
    resolution: chosenResolution as '480p' | '720p' | '1080p' | undefined,
    durationSeconds: chosenDuration,
    imageOutputId: imageOutputId ?? undefined,
    seed: seedValue,
  });
  const generateImageDry = () => dryImage.mutateAsync({ ...imageInput(), dryRun: true });
  const generateVideoDry = () => dryVideo.mutateAsync({ ...videoInput(), dryRun: true });

  const pending = generateImage.isPending || generateVideo.isPending;
  const error = tab === 'image' ? generateImage.error : generateVideo.error;
  const estimateError = estimate.error;
  const errorInfo = error ? describeError(error, t) : undefined;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!model || seedInvalid || pending) return;
    estimate.reset();
    if (tab === 'image') {
      setImageResult(undefined);
      generateImage.mutate({ ...imageInput(), idempotencyKey: newIdempotencyKey() });
    } else {
      generateVideo.mutate({ ...videoInput(), idempotencyKey: newIdempotencyKey() });
    }
  };

  const switchTab = (next: Tab) => {
    setParams(
      (p) => {
        p.set('tab', next);
        return p;
      },
      { replace: true, state: location.state },
    );
  };
  const forgetJob = useCallback(() => {
    if (storage.get() === jobId) storage.set(null);
  }, [jobId]);
  const dismissJob = () => {
    storage.set(null);
    setParams(
      (p) => {
        p.delete('job');
        return p;
      },
      { replace: true },
    );
  };
  const removeFirstFrame = () =>
    setParams(
      (p) => {
        p.delete('image');
        return p;
      },
      { replace: true },
    );

  const estimateQuote = (() => {
    const data = estimate.data as { quote?: number; job?: JobView } | undefined;
    return data ? (data.quote ?? data.job?.cost) : undefined;
  })();

  return (
    <main className="page create">
      <h1 className="sr-only">{t('create.title')}</h1>
      <div className="create-grid">
        <form className="card create-form" onSubmit={submit} aria-label={t('create.title')}>
          <div className="tabs" role="tablist" aria-label={t('create.title')}>
            {(['image', 'video'] as const).map((kind) => (
              <button
                key={kind}
                type="button"
                role="tab"
                id={`tab-${kind}`}
                aria-selected={tab === kind}
                aria-controls="create-panel"
                tabIndex={tab === kind ? 0 : -1}
                className="tab"
                onClick={() => switchTab(kind)}
                onKeyDown={(e) => {
                  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                    const other = kind === 'image' ? 'video' : 'image';
                    switchTab(other);
                    document.getElementById(`tab-${other}`)?.focus();
                  }
                }}
              >
                {kind === 'image' ? t('create.image') : t('create.video')}
              </button>
            ))}
          </div>
          <div id="create-panel" role="tabpanel" aria-labelledby={`tab-${tab}`} className="stack">
            <PromptField
              id="prompt"
              label={t('create.prompt')}
              value={prompt}
              onChange={setPrompt}
              max={PROMPT_MAX_LENGTH}
              placeholder={t('create.promptPlaceholder')}
              invalid={errorInfo?.code === 'CONTENT_REJECTED' || Boolean(errorInfo?.fieldErrors?.prompt)}
              error={errorInfo?.fieldErrors?.prompt}
              inputRef={promptRef}
              required
            />
            {tab === 'video' && imageOutputId && (
              <div className="first-frame">
                {firstFrameThumb ? (
                  <img src={firstFrameThumb} alt="" width={56} height={56} />
                ) : (
                  <span className="first-frame-blank" aria-hidden="true" />
                )}
                <span className="small">
                  {t('create.firstFrame')} <span className="mono muted">{imageOutputId.slice(-8)}</span>
                </span>
                <button type="button" className="btn btn-ghost btn-sm" onClick={removeFirstFrame}>
                  {t('create.removeFirstFrame')}
                </button>
              </div>
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
                      tab === 'image' ? setImageModelId(e.target.value) : setVideoModelId(e.target.value)
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
                  <div className="field-grid">
                    <label className="field">
                      <span className="field-label">{t('create.size')}</span>
                      <select value={chosenSize} onChange={(e) => setSize(e.target.value)}>
                        {model.sizes?.map((s) => (
                          <option key={s} value={s}>
                            {sizeLabel(s)}
                          </option>
                        ))}
                      </select>
                    </label>
                    <label className="field">
                      <span className="field-label">{t('create.count')}</span>
                      <select value={chosenN} onChange={(e) => setN(Number(e.target.value))}>
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
                      <select value={chosenResolution} onChange={(e) => setResolution(e.target.value)}>
                        {model.resolutions?.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </label>
                    <label className="field">
                      <span className="field-label">{t('create.duration')}</span>
                      <select value={chosenDuration} onChange={(e) => setDuration(Number(e.target.value))}>
                        {model.durations?.map((d) => (
                          <option key={d} value={d}>
                            {t('create.seconds', { n: d })}
                          </option>
                        ))}
                      </select>
                    </label>
                  </div>
                )}

                <details className="advanced">
                  <summary>{t('create.advanced')}</summary>
                  <div className="stack">
                    {model.supportsNegativePrompt && tab === 'image' && (
                      <PromptField
                        id="negative-prompt"
                        label={t('create.negativePrompt')}
                        value={negativePrompt}
                        onChange={setNegativePrompt}
                        max={NEGATIVE_PROMPT_MAX_LENGTH}
                        placeholder={t('create.negativePlaceholder')}
                        rows={2}
                      />
                    )}
                    <label className="field">
                      <span className="field-label">{t('create.seed')}</span>
                      <input
                        type="number"
                        inputMode="numeric"
                        min={0}
                        max={2147483647}
                        step={1}
                        value={seed}
                        placeholder={t('create.seedPlaceholder')}
                        aria-invalid={seedInvalid || undefined}
                        onChange={(e) => setSeed(e.target.value)}
                      />
                    </label>
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
                    disabled={!prompt.trim() || estimate.isPending || seedInvalid}
                    onClick={() => estimate.mutate()}
                    data-testid="estimate"
                  >
                    {t('create.estimate')}
                  </button>
                  <button
                    type="submit"
                    className="btn btn-primary btn-grow"
                    disabled={!prompt.trim() || pending || seedInvalid}
                    data-testid="generate"
                  >
                    {pending
                      ? t('create.generating')
                      : t('create.generate', { n: formatNumber(cost ?? 0, locale) })}
                  </button>
                </div>
                {estimateQuote !== undefined && !estimate.isPending && (
                  <p className="notice notice-info" role="status" data-testid="estimate-result">
                    {t('create.estimateResult', { n: estimateQuote })}
                  </p>
                )}
                {estimateError && <ErrorNotice error={estimateError} />}
                {error && <ErrorNotice info={errorInfo} />}
              </>
            )}
          </div>
        </form>

        <section className="create-results" aria-label={t('create.results')} aria-busy={pending}>
          {jobId ? (
            <JobPanel
              key={jobId}
              jobId={jobId}
              reattached={reattached}
              onDismiss={dismissJob}
              onFinal={forgetJob}
            />
          ) : tab === 'image' && generateImage.isPending ? (
            <div className="results-grid" data-testid="results-pending">
              {Array.from({ length: chosenN }, (_, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: placeholders have no identity
                <div key={i} className="result-tile skeleton" style={{ aspectRatio: aspectOf(chosenSize) }} />
              ))}
            </div>
          ) : tab === 'image' && imageResult ? (
            <div className="results-grid" data-testid="results">
              {imageResult.outputs.map((output) => (
                <OutputTile key={output.id} output={output} />
              ))}
            </div>
          ) : (
            <div className="results-empty">
              <svg viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
                <rect
                  x="4"
                  y="8"
                  width="40"
                  height="32"
                  rx="6"
                  fill="none"
                  stroke="currentColor"
                  strokeWidth="2"
                />
                <path d="M10 34l9-12 7 8 4-5 8 9z" fill="currentColor" opacity=".35" />
                <circle cx="34" cy="17" r="3" fill="currentColor" opacity=".5" />
              </svg>
              <p>{t('create.emptyResults')}</p>
            </div>
          )}
        </section>
      </div>
    </main>
  );
}
