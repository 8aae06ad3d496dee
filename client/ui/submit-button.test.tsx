import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { SubmitButton } from './submit-button.tsx';

/** A form whose request stays on its way once sent, as a slow mutation would. */
function SlowForm({ sent }: { sent: string[] }) {
  const [busy, setBusy] = useState(false);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        sent.push('submit');
        setBusy(true);
      }}
    >
      <input aria-label="Code" defaultValue="x" />
      <SubmitButton className="btn" busy={busy}>
        Send
      </SubmitButton>
    </form>
  );
}

describe('SubmitButton', () => {
  afterEach(cleanup);

  it('keeps keyboard focus while busy and refuses further presses', () => {
    const sent: string[] = [];
    render(<SlowForm sent={sent} />);
    const button = screen.getByRole('button', { name: 'Send' });
    button.focus();
    fireEvent.click(button);
    expect(sent).toEqual(['submit']);
    expect(button.getAttribute('aria-disabled')).toBe('true');
    expect(button.hasAttribute('disabled')).toBe(false);
    expect(document.activeElement).toBe(button);
    fireEvent.click(button);
    expect(sent).toEqual(['submit']);
  });
});
