import type { Ref } from 'react';

/** A textarea with a live "used / limit" counter; the counter is announced to screen readers when near the limit. */
export function PromptField({
  id,
  label,
  value,
  onChange,
  max,
  placeholder,
  rows = 4,
  invalid,
  error,
  inputRef,
  required,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  max: number;
  placeholder?: string;
  rows?: number;
  invalid?: boolean;
  error?: string;
  inputRef?: Ref<HTMLTextAreaElement>;
  required?: boolean;
}) {
  const near = value.length > max * 0.9;
  return (
    <div className="field">
      <div className="field-row">
        <label htmlFor={id} className="field-label">
          {label}
        </label>
        <span
          className={near ? 'counter counter-near' : 'counter'}
          aria-live={near ? 'polite' : 'off'}
          data-testid={`${id}-counter`}
        >
          {value.length} / {max}
        </span>
      </div>
      <textarea
        id={id}
        ref={inputRef}
        value={value}
        rows={rows}
        maxLength={max}
        placeholder={placeholder}
        required={required}
        aria-invalid={invalid || undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={(e) => {
          // Ctrl/⌘+Enter submits, as in most prompt boxes.
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) e.currentTarget.form?.requestSubmit();
        }}
      />
      {error && (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}
