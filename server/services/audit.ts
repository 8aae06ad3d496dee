import { toPage } from '../../db/paging.ts';
import type { Executor } from '../../db/transaction.ts';
import { logger } from '../logger.ts';

/** The audited actions: who signed in or failed to, who made accounts, tokens, grants and code batches. */
export type AuditAction =
  | 'signin.ok'
  | 'signin.failed'
  | 'signup'
  | 'email.verified'
  | 'password.changed'
  | 'password.reset'
  | 'sessions.revoked'
  | 'admin.granted'
  | 'admin.revoked'
  | 'codes.created'
  | 'credits.granted'
  | 'token.created';

/**
 * An event's particulars as data, so a page can say them in its reader's language. The `detail` column keeps
 * them as the English text `auditDetailText` writes, and `parseAuditDetail` reads them back (rows written
 * before this type existed included): the two stay side by side here.
 */
export type AuditDetails =
  | { kind: 'credits'; credits: number }
  | { kind: 'codes'; count: number; credits: number }
  | { kind: 'token'; scope: 'user' | 'admin'; expiresAt: Date | null }
  | { kind: 'cli' };

/** The `detail` text of an event: also what the log line says. */
export function auditDetailText(details: AuditDetails): string {
  switch (details.kind) {
    case 'credits':
      return `${details.credits} credits`;
    case 'codes':
      return `${details.count} codes × ${details.credits} credits`;
    case 'token':
      return `scope=${details.scope}${details.expiresAt ? ` expires=${details.expiresAt.toISOString()}` : ''}`;
    case 'cli':
      return 'npm run admin';
  }
}

/** The particulars in a stored `detail` text, or null when it is not one `auditDetailText` writes. */
export function parseAuditDetail(detail: string | null): AuditDetails | null {
  if (detail == null) return null;
  let m = /^(\d+) credits$/.exec(detail);
  if (m) return { kind: 'credits', credits: Number(m[1]) };
  m = /^(\d+) codes × (\d+) credits$/.exec(detail);
  if (m) return { kind: 'codes', count: Number(m[1]), credits: Number(m[2]) };
  m = /^scope=(user|admin)(?: expires=(\S+))?$/.exec(detail);
  if (m) {
    const expiresAt = m[2] ? new Date(m[2]) : null;
    if (expiresAt && Number.isNaN(expiresAt.getTime())) return null;
    return { kind: 'token', scope: m[1] === 'admin' ? 'admin' : 'user', expiresAt };
  }
  if (detail === 'npm run admin') return { kind: 'cli' };
  return null;
}

export interface AuditEvent {
  action: AuditAction;
  actorUserId?: string | null;
  /** What the event is about: an email, a batch id, a token id. */
  subject?: string | null;
  ip?: string | null;
  details?: AuditDetails;
  now: number;
  /**
   * The HTTP request it happened in, for the log line (not stored); undefined outside a request (the CLI).
   * Required, so that no caller forgets to hand it on.
   */
  requestId: string | undefined;
}

/** Writes one audit row and one log line. Never secrets: no passwords, no tokens, no codes. */
export async function audit(db: Executor, event: AuditEvent): Promise<void> {
  const row = {
    action: event.action,
    actor_user_id: event.actorUserId ?? null,
    subject: event.subject?.slice(0, 320) ?? null,
    ip: event.ip?.slice(0, 64) ?? null,
    detail: event.details ? auditDetailText(event.details).slice(0, 1000) : null,
    created_at: event.now,
  };
  logger.info('audit', {
    requestId: event.requestId,
    action: row.action,
    actor: row.actor_user_id,
    subject: row.subject,
    ip: row.ip,
    detail: row.detail,
  });
  await db.insertInto('audit_log').values(row).execute();
}

export interface AuditView {
  id: number;
  action: string;
  actorUserId: string | null;
  actorEmail: string | null;
  subject: string | null;
  ip: string | null;
  /** The English text as stored. */
  detail: string | null;
  /** The same particulars as data (null when there are none or the text is not one we write). */
  details: AuditDetails | null;
  createdAt: Date;
}

/** Newest first; cursor = the last id seen. */
export async function listAudit(
  db: Executor,
  input: { cursor?: number | null; limit: number; action?: string },
): Promise<{ items: AuditView[]; nextCursor: number | null }> {
  let query = db
    .selectFrom('audit_log as a')
    .leftJoin('users as u', 'u.id', 'a.actor_user_id')
    .select([
      'a.id',
      'a.action',
      'a.actor_user_id',
      'a.subject',
      'a.ip',
      'a.detail',
      'a.created_at',
      'u.email as actor_email',
    ])
    .orderBy('a.id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor) query = query.where('a.id', '<', input.cursor);
  if (input.action) query = query.where('a.action', '=', input.action);
  const page = toPage(await query.execute(), input.limit, (r) => Number(r.id));
  return {
    items: page.items.map((r) => ({
      id: Number(r.id),
      action: r.action,
      actorUserId: r.actor_user_id,
      actorEmail: r.actor_email ?? null,
      subject: r.subject,
      ip: r.ip,
      detail: r.detail,
      details: parseAuditDetail(r.detail),
      createdAt: new Date(Number(r.created_at)),
    })),
    nextCursor: page.nextCursor,
  };
}
