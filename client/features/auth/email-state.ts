/**
 * The address a link carries to the sign-in or forgot-password page in the history state (a sign-up that
 * found it taken), so it is typed once and never put in a URL, where logs would keep it.
 */
export interface EmailState {
  email: string;
}

/** The carried address, or '' when the page was opened otherwise. */
export const emailFromState = (state: unknown): string => {
  const email = (state as Partial<EmailState> | null)?.email;
  return typeof email === 'string' ? email : '';
};
