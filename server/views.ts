import { parseJson } from '../db/dialect.ts';
import type { Job, LedgerRow, ListedOutput, User } from '../db/schema.ts';
import type { UserView } from '../shared/schemas/auth.ts';
import type { JobView, OutputMeta, OutputView } from '../shared/schemas/generation.ts';
import type { Storage } from './storage/storage.ts';

/** What a client may see of a user: never the password hash. */
export const userView = (u: User): UserView => ({
  id: u.id,
  email: u.email,
  role: u.role,
  creditBalance: u.credit_balance,
  emailVerified: u.email_verified_at !== null,
});

/** Enough of a job to describe a ledger row in any language ("video · Demo video · 4 s · 'waves'"). */
export interface LedgerJobView {
  id: string;
  kind: 'image' | 'video';
  model: string;
  prompt: string;
  durationSeconds?: number;
  n?: number;
}

const ledgerJobView = (j: Job): LedgerJobView => {
  const params = parseJson<{ durationSeconds?: unknown; n?: unknown }>(j.params);
  return {
    id: j.id,
    kind: j.kind,
    model: j.model,
    prompt: j.prompt,
    ...(typeof params.durationSeconds === 'number' ? { durationSeconds: params.durationSeconds } : {}),
    ...(typeof params.n === 'number' ? { n: params.n } : {}),
  };
};

/** A ledger row; `job` is the job it belongs to (charges, refunds), null otherwise. `note` stays for API users. */
export const ledgerView = (r: LedgerRow & { job?: Job | null }) => ({
  id: r.id,
  amount: r.amount,
  kind: r.kind,
  jobId: r.job_id,
  redemptionId: r.redemption_id,
  note: r.note,
  balanceAfter: r.balance_after,
  createdAt: new Date(r.created_at),
  job: r.job ? ledgerJobView(r.job) : null,
});

/** A job as a client sees it: no lease fields, no provider task id, no idempotency internals. */
export const jobView = (j: Job): JobView => ({
  id: j.id,
  kind: j.kind,
  status: j.status,
  stage: j.stage,
  progress: j.progress,
  statusSequence: j.status_sequence,
  model: j.model,
  prompt: j.prompt,
  params: parseJson<Record<string, unknown>>(j.params),
  cost: j.cost,
  refunded: j.refunded,
  ...(j.error_code ? { error: { code: j.error_code, message: j.error_message ?? '' } } : {}),
  createdAt: new Date(j.created_at),
  startedAt: j.started_at === null ? null : new Date(j.started_at),
  finishedAt: j.finished_at === null ? null : new Date(j.finished_at),
});

/**
 * An output with URLs a browser can use now (signed when private), made from the stored key, and the
 * prompt of its job (copied into the row when the output was stored).
 */
export const outputView = (storage: Storage, o: ListedOutput): OutputView => {
  const ext = o.oss_path.split('.').pop() ?? 'bin';
  return {
    id: o.id,
    jobId: o.job_id,
    kind: o.kind,
    url: storage.urlFor(o.oss_path),
    thumbnailUrl: storage.urlFor(o.oss_path, { thumbnail: o.kind }),
    downloadUrl: storage.urlFor(o.oss_path, { download: `dream-factory-${o.id}.${ext}` }),
    ossPath: o.oss_path,
    size: o.size,
    contentType: o.content_type,
    meta: parseJson<OutputMeta>(o.meta),
    prompt: o.prompt,
    createdAt: new Date(o.created_at),
  };
};
