import type { ReactNode } from 'react';

/** A table that may scroll sideways on a phone: a labelled region that takes keyboard focus so it can be scrolled. */
export function TableWrap({
  label,
  className,
  children,
}: {
  label: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section className={className ? `table-wrap ${className}` : 'table-wrap'} tabIndex={0} aria-label={label}>
      {children}
    </section>
  );
}
