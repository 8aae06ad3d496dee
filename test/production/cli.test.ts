// The operational scripts as an operator runs them: `npm start`'s launcher, db:migrate, db:status, sweep.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { DIALECTS, MYSQL_ROOT_URL } from '../db.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** Runs `node scripts/run.mjs <entry>` like `npm run …` does; never throws, returns what it printed. */
async function script(entry: string, args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['scripts/run.mjs', entry, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const tempDataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'df-cli-'));

describe('operational scripts', () => {
  it.runIf(DIALECTS.includes('mysql'))(
    'db:migrate and db:status name a missing MySQL database in one line, without a stack',
    async () => {
      const url = `${MYSQL_ROOT_URL}/df_does_not_exist_${process.pid}`;
      for (const entry of ['db/migrate-cli', 'db/status-cli']) {
        const result = await script(entry, [], { DATABASE_URL: url });
        expect(result.code).toBe(1);
        const lines = result.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/database "df_does_not_exist_\d+" .* does not exist/);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      }
    },
  );

  it.runIf(DIALECTS.includes('mysql'))('TLS asked for in DATABASE_URL reaches the driver', async () => {
    const admin = await createConnection({ uri: MYSQL_ROOT_URL });
    const [rows] = await admin.query("SHOW VARIABLES LIKE 'have_ssl'");
    await admin.end();
    const tlsOn = (rows as { Value: string }[])[0]?.Value === 'YES';
    const result = await script('db/status-cli', [], {
      DATABASE_URL: `${MYSQL_ROOT_URL}/mysql?ssl=skip-verify`,
    });
    if (tlsOn) {
      expect(result.stdout).toContain('reachable');
    } else {
      // This machine's MariaDB has TLS off: a client that asks for TLS is told so, in one line.
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/does not support TLS/);
    }
  });

  it('db:migrate then db:status on a fresh SQLite database', async () => {
    const dataDir = tempDataDir();
    const before = await script('db/status-cli', [], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(before.stdout).toMatch(/0 applied, \d+ pending/);
    const migrated = await script('db/migrate-cli', [], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain('2026-12-01-13-01-locks');
    expect(migrated.stdout).toContain(`SQLite file ${path.join(dataDir, 'dream-factory.sqlite')}: applied`);
    const after = await script('db/status-cli', [], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(after.stdout).toMatch(/\d+ applied, 0 pending/);
  });

  it('sweep --dry-run lists what it would remove and removes nothing', async () => {
    const dataDir = tempDataDir();
    await script('db/migrate-cli', [], { DATA_DIR: dataDir, DATABASE_URL: '' });
    const orphan = path.join(dataDir, 'objects/outputs/2026/11/u/orphan-0.png');
    fs.mkdirSync(path.dirname(orphan), { recursive: true });
    fs.writeFileSync(orphan, 'x');
    const old = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    fs.utimesSync(orphan, old, old);
    const dry = await script('server/sweep-cli', ['--dry-run'], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('object outputs/2026/11/u/orphan-0.png');
    expect(dry.stdout).toContain('would remove: 1 orphan objects');
    expect(fs.existsSync(orphan)).toBe(true);
    // A mistyped flag stops the sweep; `npm run sweep --dry-run` (the flag went to npm) stays a dry run.
    const typo = await script('server/sweep-cli', ['--dryrun'], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown argument --dryrun');
    const viaNpm = await script('server/sweep-cli', [], {
      DATA_DIR: dataDir,
      DATABASE_URL: '',
      npm_config_dry_run: 'true',
    });
    expect(viaNpm.stdout).toContain('would remove: 1 orphan objects');
    expect(fs.existsSync(orphan)).toBe(true);
    const real = await script('server/sweep-cli', [], { DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(real.stdout).toContain('removed: 1 orphan objects');
    expect(fs.existsSync(orphan)).toBe(false);
  });
});
