/**
 * English strings of the API tokens page, loaded with those pages.
 * The source of this part's keys (zh-CN must have the same ones); `{name}` is filled in by `t`.
 */
export const messages = {
  'tokens.title': 'API tokens',
  'tokens.intro': 'Call the same API from your own TypeScript app. Send the token as a Bearer header.',
  'tokens.name': 'Token name',
  'tokens.namePlaceholder': 'e.g. my-script',
  'tokens.create': 'Create token',
  'tokens.copyOnce': 'Copy this token now: it is shown only once.',
  'tokens.list': 'Your tokens',
  'tokens.empty': 'No tokens yet.',
  'tokens.prefix': 'Starts with',
  'tokens.lastUsed': 'Last used',
  'tokens.created': 'Created',
  'tokens.never': 'Never',
  'tokens.revoke': 'Revoke',
  'tokens.revokeNamed': 'Revoke “{name}”',
  'tokens.revoked': 'Revoked',
  'tokens.revokeConfirm': 'Revoke “{name}”? Apps using it stop working at once.',
  'tokens.snippet': 'Typed client',
  'tokens.snippetEventSource': 'only outside a browser, for jobs.watch',
  'tokens.expiry': 'Expires',
  'tokens.expiryNever': 'Never',
  'tokens.expiryDays': 'In {n} days',
  'tokens.adminScope': 'Admin power (this token may call admin procedures)',
  'tokens.scope': 'Scope',
  'tokens.scopeAdmin': 'admin',
  'tokens.scopeUser': 'user',
} as const;

export type Messages = Record<keyof typeof messages, string>;
