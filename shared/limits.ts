/**
 * Input limits shared by the zod schemas and the browser. Plain constants, no zod: the SPA imports this
 * module on its first screen, and importing a schema module would pull zod (~40 KB gzip) into it.
 */
export const PASSWORD_MIN_LENGTH = 8;
export const PROMPT_MAX_LENGTH = 2000;
export const NEGATIVE_PROMPT_MAX_LENGTH = 500;
export const SEED_MAX = 2_147_483_647;

/** The most calls one HTTP request may batch: the server refuses more (BATCH_TOO_LARGE); clients send at most this. */
export const MAX_BATCH_SIZE = 10;

/** Live (unrevoked, unexpired) API tokens one account may hold; creating more is VALIDATION (TOKEN_LIMIT). */
export const MAX_API_TOKENS_PER_USER = 50;
