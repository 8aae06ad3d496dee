import type { ButtonHTMLAttributes } from 'react';

type Props = Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'type'> & {
  /** The form's request is on its way: the button refuses presses but keeps keyboard focus. */
  busy: boolean;
};

/**
 * A form's submit button. While `busy` it is `aria-disabled` and ignores presses (Enter in a field
 * included: that presses it) instead of `disabled`, which would drop keyboard focus to the page, so a
 * keyboard user would have to tab from the top again. `disabled` stays for a form not ready to send.
 */
export function SubmitButton({ busy, onClick, ...rest }: Props) {
  return (
    <button
      {...rest}
      type="submit"
      aria-disabled={busy || undefined}
      onClick={(event) => {
        if (busy) event.preventDefault();
        else onClick?.(event);
      }}
    />
  );
}
