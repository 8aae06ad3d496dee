import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Time-ordered ids (UUIDv7) made by the app, so they sort by creation and work as cursors. */
export const newId = (): string => uuidv7();

/** A random secret token, URL-safe, with a readable prefix saying what it is. */
export const newToken = (prefix: string, bytes = 32): string =>
  `${prefix}_${randomBytes(bytes).toString('base64url')}`;
