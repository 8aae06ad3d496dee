import type { Migration } from 'kysely/migration';
import * as m01 from './2026-11-28-01-users.ts';
import * as m02 from './2026-11-28-02-sessions-and-api-tokens.ts';
import * as m03 from './2026-11-28-03-credit-ledger.ts';
import * as m04 from './2026-11-28-04-jobs.ts';
import * as m05 from './2026-11-28-05-job-outputs.ts';
import * as m06 from './2026-11-28-06-rate-limit-events.ts';
import * as m07 from './2026-11-28-07-redemption-codes.ts';
import * as m11_01 from './2026-12-01-11-01-job-claim-indexes.ts';
import * as m11_02 from './2026-12-01-11-02-provider-limits.ts';
import * as m12_01 from './2026-12-01-12-01-audit-log.ts';
import * as m12_02 from './2026-12-01-12-02-email-verification.ts';
import * as m12_03 from './2026-12-01-12-03-account-tokens.ts';
import * as m12_04 from './2026-12-01-12-04-session-idle.ts';
import * as m12_05 from './2026-12-01-12-05-api-token-expiry-scope.ts';
import * as m12_06 from './2026-12-01-12-06-role-is-a-grant.ts';
import * as m13_01 from './2026-12-01-13-01-locks.ts';
import * as m1401 from './2026-12-01-14-01-job-outputs-gallery-indexes.ts';
import * as m1402 from './2026-12-01-14-02-output-search.ts';
import * as m1403 from './2026-12-01-14-03-job-outputs-by-user.ts';
import * as m1501 from './2026-12-01-15-01-rate-limit-pending.ts';
import * as m20301 from './2026-12-03-01-01-job-submit-sent.ts';
import * as m031601 from './2026-12-03-16-01-idempotency-key-binary.ts';

/** Every migration, by name; the names sort in the order they run. Add new files here. */
export const migrations: Record<string, Migration> = {
  '2026-11-28-01-users': m01,
  '2026-11-28-02-sessions-and-api-tokens': m02,
  '2026-11-28-03-credit-ledger': m03,
  '2026-11-28-04-jobs': m04,
  '2026-11-28-05-job-outputs': m05,
  '2026-11-28-06-rate-limit-events': m06,
  '2026-11-28-07-redemption-codes': m07,
  '2026-12-01-11-01-job-claim-indexes': m11_01,
  '2026-12-01-11-02-provider-limits': m11_02,
  '2026-12-01-12-01-audit-log': m12_01,
  '2026-12-01-12-02-email-verification': m12_02,
  '2026-12-01-12-03-account-tokens': m12_03,
  '2026-12-01-12-04-session-idle': m12_04,
  '2026-12-01-12-05-api-token-expiry-scope': m12_05,
  '2026-12-01-12-06-role-is-a-grant': m12_06,
  '2026-12-01-13-01-locks': m13_01,
  '2026-12-01-14-01-job-outputs-gallery-indexes': m1401,
  '2026-12-01-14-02-output-search': m1402,
  '2026-12-01-14-03-job-outputs-by-user': m1403,
  '2026-12-01-15-01-rate-limit-pending': m1501,
  '2026-12-03-01-01-job-submit-sent': m20301,
  '2026-12-03-16-01-idempotency-key-binary': m031601,
};
