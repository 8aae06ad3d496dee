import type { ReactNode } from 'react';

/**
 * A table that may scroll sideways: a labelled region that takes keyboard focus so it can be scrolled.
 * `cards`: the table has a TableCards list beside it, which takes its place below 640 px (styles.css).
 */
export function TableWrap({
  label,
  className,
  cards = false,
  children,
}: {
  label: string;
  className?: string;
  cards?: boolean;
  children: ReactNode;
}) {
  const classes = ['table-wrap', cards && 'has-cards', className].filter(Boolean).join(' ');
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section className={classes} tabIndex={0} aria-label={label}>
      {children}
    </section>
  );
}

/** A table's rows as a list of cards, shown instead of the table on a phone (below 640 px), hidden above. */
export function TableCards({
  label,
  testId,
  children,
}: {
  label: string;
  testId?: string;
  children: ReactNode;
}) {
  return (
    <ul className="table-cards" aria-label={label} data-testid={testId}>
      {children}
    </ul>
  );
}

export interface CardField {
  /** The column's header. */
  label: string;
  value: ReactNode;
  /** A long value (an email, a sentence): a line of its own. */
  wide?: boolean;
}

/**
 * One table row as a card: what names it (and its badge) on top, the other columns as labelled fields (a
 * column with nothing to say is left out by the caller), then its actions, all within the phone's width.
 */
export function RowCard({
  title,
  sub,
  badge,
  fields,
  actions,
  testId,
}: {
  title: ReactNode;
  /** A line under the title (who made it, how). */
  sub?: ReactNode;
  badge?: ReactNode;
  fields: CardField[];
  actions?: ReactNode;
  testId?: string;
}) {
  return (
    <li className="row-card" data-testid={testId}>
      <div className="row-card-head">
        <div className="row-card-title">{title}</div>
        {badge}
      </div>
      {sub && <div className="muted small">{sub}</div>}
      <dl className="row-card-fields">
        {fields.map((field) => (
          <div key={field.label} className={field.wide ? 'wide' : undefined}>
            <dt>{field.label}</dt>
            <dd>{field.value}</dd>
          </div>
        ))}
      </dl>
      {actions && <div className="row-card-actions">{actions}</div>}
    </li>
  );
}
