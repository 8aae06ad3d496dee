import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Timestamps are epoch milliseconds (BIGINT) on both dialects: no time-zone or driver date quirks. */
type Millis = number;
/** JSON stored as text (MySQL JSON / SQLite TEXT); read it through `parseJson` in db/dialect.ts. */
type JsonText = ColumnType<unknown, string, string>;

export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  /** The stored grant (`npm run admin -- grant`); ADMIN_EMAILS adds to it at each request, never stored. */
  role: 'user' | 'admin';
  credit_balance: number;
  created_at: Millis;
  email_verified_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: string;
  expires_at: Millis;
  created_at: Millis;
  /** Last use (touched at most once a minute); idle sessions expire. */
  last_seen_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  token_prefix: string;
  last_used_at: Millis | null;
  revoked_at: Millis | null;
  created_at: Millis;
  expires_at: ColumnType<Millis | null, Millis | null | undefined, Millis | null>;
  /** `admin` only when an admin created it asking for admin power; otherwise `user`. */
  scope: ColumnType<'user' | 'admin', 'user' | 'admin' | undefined, 'user' | 'admin'>;
}

export type LedgerKind = 'signup_bonus' | 'grant' | 'charge' | 'refund' | 'redeem';

export interface CreditLedgerTable {
  id: Generated<number>;
  user_id: string;
  amount: number;
  kind: LedgerKind;
  job_id: string | null;
  redemption_id: string | null;
  note: string | null;
  /** Balance right after this movement, for the history view. */
  balance_after: number;
  created_at: Millis;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export type JobStage = 'queued' | 'submitting' | 'generating' | 'uploading' | 'done';

export interface JobsTable {
  id: string;
  user_id: string;
  kind: 'image' | 'video';
  status: JobStatus;
  stage: JobStage;
  progress: number;
  status_sequence: number;
  model: string;
  provider: string;
  prompt: string;
  params: JsonText;
  cost: number;
  refunded: number;
  provider_task_id: string | null;
  /**
   * When a worker sent the submit (just before the request went out); cleared when the job goes back to
   * the queue. Set with no task id after a crash: the provider may hold a task, so no second submit.
   */
  submit_sent_at: Millis | null;
  attempts: number;
  lease_owner: string | null;
  lease_until: Millis | null;
  /** When to look at the job next (provider poll backoff, rate-limit retry). */
  next_attempt_at: Millis;
  idempotency_key: string | null;
  request_hash: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: Millis;
  started_at: Millis | null;
  finished_at: Millis | null;
}

export interface JobOutputsTable {
  id: string;
  job_id: string;
  user_id: string;
  kind: 'image' | 'video';
  oss_url: string;
  oss_path: string;
  size: number;
  content_type: string;
  sha256: string;
  meta: JsonText;
  created_at: Millis;
  deleted_at: Millis | null;
  /** The job's prompt, copied when the output is stored: a gallery page reads no jobs row. */
  prompt: string;
  /** The prompt normalised for search (server/services/search-text.ts); null until indexed. */
  search_text: string | null;
  /** 1 once the output's grams are in output_search_grams; new rows start at 0. */
  search_indexed: Generated<number>;
}

/** Search grams of live outputs (issue 14): a CJK bigram or a lower-cased word → the outputs holding it. */
export interface OutputSearchGramsTable {
  user_id: string;
  gram: string;
  output_id: string;
}

export interface RedemptionCodesTable {
  id: string;
  batch_id: string;
  code_hash: string;
  code_prefix: string;
  credits: number;
  max_redemptions: number;
  redeemed_count: number;
  expires_at: Millis | null;
  disabled_at: Millis | null;
  note: string | null;
  created_by: string;
  created_at: Millis;
}

export interface RedemptionsTable {
  id: string;
  code_id: string;
  user_id: string;
  credits: number;
  created_at: Millis;
}

/** Failed attempts (sign-in, redeem) for rate limiting, shared by every process through the database. */
export interface RateLimitEventsTable {
  id: Generated<number>;
  bucket: string;
  created_at: Millis;
  /** 1 while the attempt is being evaluated (it may yet be given back), 0 once it counts. */
  pending: ColumnType<number, number | undefined, number>;
}

/** Single-use links sent by email (verification, password reset); only the hash is stored. */
export interface AccountTokensTable {
  id: string;
  user_id: string;
  purpose: 'verify' | 'reset';
  token_hash: string;
  expires_at: Millis;
  used_at: Millis | null;
  created_at: Millis;
}

/** Security-relevant events for operators (admin.audit.list). */
export interface AuditLogTable {
  id: Generated<number>;
  action: string;
  actor_user_id: string | null;
  subject: string | null;
  ip: string | null;
  detail: string | null;
  created_at: Millis;
}

/** Named leases (housekeeping sweep): one holder until expires_at. */
export interface LocksTable {
  name: string;
  owner: string;
  expires_at: Millis;
}

/** A provider account limit shared by all worker processes (server/services/jobs/limiter.ts). */
export interface ProviderLimitsTable {
  /** e.g. `dashscope:submit`, `dashscope:query`, `openai:image`. */
  name: string;
  /** The earliest time (ms) the next request may go out. */
  next_at: Millis;
}

export interface Database {
  locks: LocksTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  credit_ledger: CreditLedgerTable;
  jobs: JobsTable;
  job_outputs: JobOutputsTable;
  output_search_grams: OutputSearchGramsTable;
  redemption_codes: RedemptionCodesTable;
  redemptions: RedemptionsTable;
  rate_limit_events: RateLimitEventsTable;
  account_tokens: AccountTokensTable;
  audit_log: AuditLogTable;
  provider_limits: ProviderLimitsTable;
}

export type User = Selectable<UsersTable>;
export type Job = Selectable<JobsTable>;
export type NewJob = Insertable<JobsTable>;
export type JobUpdate = Updateable<JobsTable>;
export type JobOutput = Selectable<JobOutputsTable>;
/** The columns an output's view is made of (outputView): what gallery listings read, not the whole row. */
export type ListedOutput = Pick<
  JobOutput,
  'id' | 'job_id' | 'kind' | 'oss_path' | 'size' | 'content_type' | 'meta' | 'created_at' | 'prompt'
>;
export type LedgerRow = Selectable<CreditLedgerTable>;
