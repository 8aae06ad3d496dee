import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { type MessageKey, useI18n, usePageTitle } from '../../i18n/index.tsx';
import { formatDate, formatDateTime } from '../../lib/format.ts';
import { useTRPC, useTRPCClient } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Media } from '../../ui/media.tsx';
import { Empty, Loading, Spinner } from '../../ui/states.tsx';
import { OutputDetail } from './output-detail.tsx';

type Kind = 'image' | 'video' | undefined;
// 60 a page: a full screen of thumbnails on a large display, and the CLS budget is measured on one page.
const PAGE_SIZE = 60;
const SEARCH_DEBOUNCE_MS = 300;

/** One thumbnail in a fixed square box (the grid never moves while images load), whole, with its prompt on hover. */
function Thumb({
  output,
  selected,
  onOpen,
  onSelect,
}: {
  output: OutputView;
  selected: boolean;
  onOpen: () => void;
  onSelect: (selected: boolean) => void;
}) {
  const { t, locale } = useI18n();
  const kind = t(`kind.${output.kind}`);
  const date = formatDate(output.createdAt, locale);
  return (
    <div className="gallery-item">
      <input
        type="checkbox"
        className="thumb-select"
        checked={selected}
        onChange={(e) => onSelect(e.target.checked)}
        aria-label={t('gallery.selectItem', { kind, date })}
        data-testid="gallery-select"
      />
      <button
        type="button"
        className="thumb"
        onClick={onOpen}
        title={output.prompt}
        data-testid="gallery-item"
        data-output-id={output.id}
        data-kind={output.kind}
      >
        <span className="sr-only">{t('gallery.open', { kind, date })}</span>
        <Media output={output} alt="" variant="thumbnail" className="" />
        {output.kind === 'video' && (
          <span className="thumb-badge" aria-hidden="true">
            ▶ {output.meta.duration_seconds ? t('create.seconds', { n: output.meta.duration_seconds }) : ''}
          </span>
        )}
        <span className="thumb-caption" aria-hidden="true" data-testid="thumb-caption">
          <span>{output.prompt}</span>
          <time>{formatDateTime(output.createdAt, locale)}</time>
        </span>
      </button>
    </div>
  );
}

/** How many pages an `?id=` link may load to find its item. */
const MAX_PAGES_TO_FIND = 20;

export default function GalleryPage() {
  const { t } = useI18n();
  usePageTitle(t('gallery.title'));
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const kindParam = params.get('kind');
  const kind: Kind = kindParam === 'image' || kindParam === 'video' ? kindParam : undefined;
  const q = params.get('q')?.trim() ?? '';
  const openId = params.get('id');
  const [search, setSearch] = useState(q);
  const [confirming, setConfirming] = useState<OutputView[]>();
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [notice, setNotice] = useState<MessageKey>();

  const list = useInfiniteQuery(
    trpc.outputs.list.infiniteQueryOptions(
      { limit: PAGE_SIZE, kind, ...(q ? { q } : {}) },
      { getNextPageParam: (last) => last.nextCursor ?? undefined, placeholderData: (previous) => previous },
    ),
  );
  const items = list.data?.pages.flatMap((page) => page.items) ?? [];
  const openIndex = openId ? items.findIndex((o) => o.id === openId) : -1;
  const open = openIndex >= 0 ? items[openIndex] : undefined;

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

  // A link to an item past the loaded pages (the feed's Open on an older image): load on until it shows,
  // at most MAX_PAGES_TO_FIND pages; not there (deleted, filtered out), say so and show the grid.
  const pagesLoaded = list.data?.pages.length ?? 0;
  const searching = Boolean(openId && !open && !list.isPending && !list.error);
  const canLoadMore = hasNextPage && pagesLoaded < MAX_PAGES_TO_FIND;
  useEffect(() => {
    if (!searching || isFetchingNextPage) return;
    if (canLoadMore) void fetchNextPage();
    else {
      setNotice('gallery.openMissing');
      setParam('id', undefined);
    }
    // setParam is left out: it is remade each render, and the URL it writes is read when it runs.
  }, [searching, isFetchingNextPage, canLoadMore, fetchNextPage]);

  // Merged into the URL as it is when called, not as this render saw it: the debounced search runs after a
  // filter click made meanwhile and must not write the old kind back (react-router hands the updater the
  // params of the render that made it).
  const setParam = (key: string, value: string | undefined) =>
    setParams(
      () => {
        const p = new URLSearchParams(window.location.search);
        if (value) p.set(key, value);
        else p.delete(key);
        return p;
      },
      { replace: key !== 'id' },
    );

  // Search as you type, a moment after the last key.
  useEffect(() => {
    const next = search.trim();
    if (next === q) return;
    const timer = setTimeout(() => setParam('q', next || undefined), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [search, q]);

  // Closing the detail view gives focus back to the tile it was opened from (or moved to).
  const lastOpen = useRef<string | null>(null);
  useEffect(() => {
    if (openId) {
      lastOpen.current = openId;
      return;
    }
    const id = lastOpen.current;
    lastOpen.current = null;
    if (id)
      requestAnimationFrame(() =>
        document.querySelector<HTMLElement>(`[data-output-id="${CSS.escape(id)}"]`)?.focus(),
      );
  }, [openId]);

  const client = useTRPCClient();
  // One or several: deleted one by one, so a failure stops with the rest untouched and explained.
  const remove = useMutation({
    mutationFn: async (ids: string[]) => {
      for (const id of ids) await client.outputs.delete.mutate({ id });
    },
    onError: () => void queryClient.invalidateQueries(trpc.outputs.pathFilter()),
  });
  const afterDelete = (ids: string[]) => {
    setConfirming(undefined);
    if (openId && ids.includes(openId)) setParam('id', undefined);
    setSelected(new Set());
    setNotice('gallery.deleted');
    void queryClient.invalidateQueries(trpc.outputs.pathFilter());
    void queryClient.invalidateQueries(trpc.jobs.list.pathFilter());
  };

  const toggle = (id: string, on: boolean) =>
    setSelected((current) => {
      const next = new Set(current);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const chosen = items.filter((o) => selected.has(o.id));
  const downloadChosen = () => {
    for (const output of chosen) {
      const a = document.createElement('a');
      a.href = output.downloadUrl || output.url;
      a.download = '';
      document.body.append(a);
      a.click();
      a.remove();
    }
  };

  const goTo = (index: number) => {
    const target = items[index];
    if (target) setParams((p) => ({ ...Object.fromEntries(p), id: target.id }), { replace: true });
    else if (index >= items.length && hasNextPage) void fetchNextPage();
  };

  const filters: { value: Kind; label: string }[] = [
    { value: undefined, label: t('gallery.all') },
    { value: 'image', label: t('gallery.images') },
    { value: 'video', label: t('gallery.videos') },
  ];

  return (
    <div className="page">
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
      <div className="gallery-tools">
        <label className="search">
          <span className="sr-only">{t('gallery.search')}</span>
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder={`${t('gallery.search')} · ${t('gallery.searchPlaceholder')}`}
            aria-label={t('gallery.search')}
            data-testid="gallery-search"
          />
        </label>
        {list.isFetching && !list.isFetchingNextPage && !list.isPending && <Spinner />}
      </div>
      {notice && (
        <p
          className={`notice ${notice === 'gallery.openMissing' ? 'notice-info' : 'notice-success'}`}
          role="status"
        >
          {t(notice)}
        </p>
      )}
      {list.isPending ? (
        <Loading />
      ) : list.error ? (
        <ErrorNotice error={list.error} />
      ) : items.length === 0 ? (
        q ? (
          <Empty>{t('gallery.noMatch', { q })}</Empty>
        ) : (
          <Empty
            action={
              <Link to="/create" className="btn btn-primary">
                {t('gallery.emptyAction')}
              </Link>
            }
          >
            {t('gallery.empty')}
          </Empty>
        )
      ) : (
        <>
          <ul className="gallery-grid" data-testid="gallery-grid">
            {items.map((output) => (
              <li key={output.id}>
                <Thumb
                  output={output}
                  selected={selected.has(output.id)}
                  onSelect={(on) => toggle(output.id, on)}
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
      {chosen.length > 0 && (
        <section className="selection-bar" aria-label={t('gallery.selected', { n: chosen.length })}>
          <span className="count" data-testid="selection-count">
            {t('gallery.selected', { n: chosen.length })}
          </span>
          <button type="button" className="btn btn-secondary btn-sm" onClick={downloadChosen}>
            {t('gallery.downloadSelected', { n: chosen.length })}
          </button>
          <button
            type="button"
            className="btn btn-danger-ghost btn-sm"
            onClick={() => setConfirming(chosen)}
            data-testid="delete-selected"
          >
            {t('gallery.deleteSelected', { n: chosen.length })}
          </button>
          <button type="button" className="btn btn-ghost btn-sm" onClick={() => setSelected(new Set())}>
            {t('gallery.clearSelection')}
          </button>
        </section>
      )}
      {open && (
        <OutputDetail
          output={open}
          position={{ index: openIndex, count: items.length, more: Boolean(hasNextPage) }}
          onPrev={openIndex > 0 ? () => goTo(openIndex - 1) : undefined}
          onNext={openIndex < items.length - 1 || hasNextPage ? () => goTo(openIndex + 1) : undefined}
          onClose={() => setParam('id', undefined)}
          onUsePrompt={() =>
            navigate(`/create?tab=${open.kind}&prompt=${encodeURIComponent(open.prompt ?? '')}`)
          }
          onAnimate={() =>
            navigate(
              `/create?tab=video&image=${encodeURIComponent(open.id)}&prompt=${encodeURIComponent(open.prompt ?? '')}`,
              {
                state: { thumbnailUrl: open.thumbnailUrl },
              },
            )
          }
          onDelete={() => setConfirming([open])}
        />
      )}
      <ConfirmDialog
        open={Boolean(confirming)}
        message={
          <>
            {confirming && confirming.length > 1
              ? t('gallery.deleteManyConfirm', { n: confirming.length })
              : t('gallery.deleteConfirm', { kind: t(`kind.${confirming?.[0]?.kind ?? 'image'}`) })}
            {remove.error && <ErrorNotice error={remove.error} />}
          </>
        }
        confirmLabel={t('common.delete')}
        busy={remove.isPending}
        onConfirm={() => {
          if (!confirming) return;
          const ids = confirming.map((o) => o.id);
          remove.mutate(ids, { onSuccess: () => afterDelete(ids) });
        }}
        onCancel={() => {
          remove.reset();
          setConfirming(undefined);
        }}
      />
    </div>
  );
}
