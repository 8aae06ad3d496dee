import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { formatDate } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading, Spinner } from '../../ui/states.tsx';
import { OutputDetail } from './output-detail.tsx';

type Kind = 'image' | 'video' | undefined;
// 60 a page: a full screen of thumbnails on a large display, and the CLS budget is measured on one page.
const PAGE_SIZE = 60;

/** One thumbnail in a fixed square box: the grid never moves while images load. */
function Thumb({ output, onOpen }: { output: OutputView; onOpen: () => void }) {
  const { t, locale } = useI18n();
  return (
    <button
      type="button"
      className="thumb"
      onClick={onOpen}
      aria-label={t('gallery.open', {
        kind: t(`kind.${output.kind}`),
        date: formatDate(output.createdAt, locale),
      })}
      data-testid="gallery-item"
      data-kind={output.kind}
    >
      <img src={output.thumbnailUrl} alt="" loading="lazy" decoding="async" width={320} height={320} />
      {output.kind === 'video' && (
        <span className="thumb-badge">
          ▶ {output.meta.duration_seconds ? t('create.seconds', { n: output.meta.duration_seconds }) : ''}
        </span>
      )}
    </button>
  );
}

export default function GalleryPage() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const kindParam = params.get('kind');
  const kind: Kind = kindParam === 'image' || kindParam === 'video' ? kindParam : undefined;
  const openId = params.get('id');
  const [confirming, setConfirming] = useState<OutputView>();
  const [notice, setNotice] = useState<string>();

  const list = useInfiniteQuery(
    trpc.outputs.list.infiniteQueryOptions(
      { limit: PAGE_SIZE, kind },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const items = list.data?.pages.flatMap((page) => page.items) ?? [];
  const open = openId ? items.find((o) => o.id === openId) : undefined;

  // Infinite scroll: load the next page when the sentinel comes near the viewport.
  const sentinel = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list;
  useEffect(() => {
    const node = sentinel.current;
    if (!node || !hasNextPage || typeof IntersectionObserver === 'undefined') return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) void fetchNextPage();
      },
      { rootMargin: '600px 0px' },
    );
    observer.observe(node);
    return () => observer.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const setParam = (key: string, value: string | undefined) =>
    setParams(
      (p) => {
        if (value) p.set(key, value);
        else p.delete(key);
        return p;
      },
      { replace: key !== 'id' },
    );

  const remove = useMutation(
    trpc.outputs.delete.mutationOptions({
      onSuccess: () => {
        setConfirming(undefined);
        setParam('id', undefined);
        setNotice(t('gallery.deleted'));
        void queryClient.invalidateQueries(trpc.outputs.pathFilter());
      },
    }),
  );

  const filters: { value: Kind; label: string }[] = [
    { value: undefined, label: t('gallery.all') },
    { value: 'image', label: t('gallery.images') },
    { value: 'video', label: t('gallery.videos') },
  ];

  return (
    <main className="page">
      <div className="page-head">
        <h1>{t('gallery.title')}</h1>
        <fieldset className="filters">
          <legend className="sr-only">{t('gallery.title')}</legend>
          {filters.map((f) => (
            <button
              key={f.label}
              type="button"
              className="filter"
              aria-pressed={kind === f.value}
              onClick={() => setParam('kind', f.value)}
            >
              {f.label}
            </button>
          ))}
        </fieldset>
      </div>
      {notice && (
        <p className="notice notice-success" role="status">
          {notice}
        </p>
      )}
      {list.isPending ? (
        <Loading />
      ) : list.error ? (
        <ErrorNotice error={list.error} />
      ) : items.length === 0 ? (
        <Empty
          action={
            <Link to="/create" className="btn btn-primary">
              {t('gallery.emptyAction')}
            </Link>
          }
        >
          {t('gallery.empty')}
        </Empty>
      ) : (
        <>
          <ul className="gallery-grid" data-testid="gallery-grid">
            {items.map((output) => (
              <li key={output.id}>
                <Thumb
                  output={output}
                  onOpen={() => {
                    setNotice(undefined);
                    setParam('id', output.id);
                  }}
                />
              </li>
            ))}
          </ul>
          <div ref={sentinel} className="sentinel" />
          {hasNextPage ? (
            <div className="list-end">
              {isFetchingNextPage ? (
                <Spinner />
              ) : (
                <button type="button" className="btn btn-secondary" onClick={() => void fetchNextPage()}>
                  {t('common.loadMore')}
                </button>
              )}
            </div>
          ) : (
            <p className="list-end">{t('common.end')}</p>
          )}
        </>
      )}
      {open && (
        <OutputDetail
          key={open.id}
          output={open}
          onClose={() => setParam('id', undefined)}
          onUsePrompt={() =>
            navigate(`/create?tab=${open.kind}&prompt=${encodeURIComponent(open.prompt ?? '')}`)
          }
          onAnimate={() =>
            navigate(`/create?tab=video&image=${encodeURIComponent(open.id)}`, {
              state: { thumbnailUrl: open.thumbnailUrl },
            })
          }
          onDelete={() => setConfirming(open)}
        />
      )}
      <ConfirmDialog
        open={Boolean(confirming)}
        message={
          <>
            {t('gallery.deleteConfirm', { kind: t(`kind.${confirming?.kind ?? 'image'}`) })}
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
    </main>
  );
}
