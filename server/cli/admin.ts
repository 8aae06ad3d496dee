import { connect, databaseErrorMessage, describeDatabase } from '../../db/connect.ts';
import { AppError } from '../../shared/errors.ts';
import { EnvError, loadEnv } from '../env.ts';
import { logger } from '../logger.ts';
import { setAdminGrant } from '../services/auth.ts';

/**
 * `npm run admin -- grant|revoke EMAIL`: stores or removes an account's admin grant (users.role).
 * Addresses in ADMIN_EMAILS are admins anyway; this is for admins not in the list, and the grant is
 * written to the audit log.
 */
const usage = 'usage: npm run admin -- grant|revoke EMAIL';

export async function runAdminCli(args: string[]): Promise<number> {
  const [command, email] = args;
  if ((command !== 'grant' && command !== 'revoke') || !email || args.length !== 2) {
    console.error(usage);
    return 2;
  }
  let env: ReturnType<typeof loadEnv>;
  try {
    env = loadEnv();
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  logger.setLevel('warn');
  const where = describeDatabase(env.DATABASE_URL, env.DATA_DIR);
  let db: ReturnType<typeof connect> | undefined;
  try {
    db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
    const { changed } = await setAdminGrant(db, { email, grant: command === 'grant', now: Date.now() });
    const who = email.trim().toLowerCase();
    if (command === 'grant')
      console.log(changed ? `${who} is now an admin.` : `${who} already had the admin grant.`);
    else console.log(changed ? `${who} no longer has the admin grant.` : `${who} had no admin grant.`);
    if (command === 'revoke' && env.ADMIN_EMAILS.includes(who))
      console.log(`Note: ${who} is listed in ADMIN_EMAILS and stays admin through the list.`);
    return 0;
  } catch (error) {
    if (error instanceof AppError) {
      console.error(error.message);
      return 1;
    }
    // The database: a bad URL, missing, refused, not migrated. One line, no stack.
    console.error(`admin: ${databaseErrorMessage(error, where)}`);
    return 1;
  } finally {
    await db?.destroy().catch(() => undefined);
  }
}

process.exitCode = await runAdminCli(process.argv.slice(2));
