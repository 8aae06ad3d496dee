import { type ReactNode, useEffect, useId, useRef } from 'react';
import { useI18n } from '../i18n/index.tsx';

/**
 * A modal confirmation on the native <dialog>: focus is trapped, Escape cancels, and Cancel gets focus
 * first, so a stray Enter or Space never does the destructive thing.
 */
export function ConfirmDialog({
  open,
  message,
  confirmLabel,
  danger = true,
  busy = false,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  message: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const messageId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      dialog.showModal?.();
      cancelRef.current?.focus();
    }
    if (!open && dialog.open) dialog.close?.();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-modal="true"
      // Named by its question, so a screen reader says what is being confirmed when focus lands on Cancel.
      aria-labelledby={open ? messageId : undefined}
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      {open && (
        <form
          method="dialog"
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            onConfirm();
          }}
        >
          {/* A <div>: the message may carry an error notice, which a <p> cannot hold. */}
          <div className="dialog-message" id={messageId}>
            {message}
          </div>
          <div className="dialog-actions">
            <button type="button" className="btn btn-ghost" onClick={onCancel} ref={cancelRef}>
              {t('common.cancel')}
            </button>
            <button type="submit" className={danger ? 'btn btn-danger' : 'btn btn-primary'} disabled={busy}>
              {confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
