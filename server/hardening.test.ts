import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../db/connect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { testInner } from '../test/context.ts';
import { createTestDb, DIALECTS } from '../test/db.ts';
import { startTestServer } from '../test/http.ts';
import { appSecret, ensureDataDir } from './deps.ts';
import { EnvError, parseEnv } from './env.ts';
import { mediaOrigins } from './http/security.ts';
import { LocalStorage, localFilesHandler } from './storage/local.ts';
import { isPrivateAddress } from './storage/safe-fetch.ts';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'df-hardening-'));
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe('secrets and file modes', () => {
  it('refuses an APP_SECRET shorter than 32 bytes, naming the variable', () => {
    expect(() => parseEnv({ APP_SECRET: 'short' })).toThrow(/APP_SECRET: must be at least 32 bytes/);
    expect(parseEnv({ APP_SECRET: 'x'.repeat(32) }).APP_SECRET).toBe('x'.repeat(32));
  });

  it('generates a secret file 0600 in a DATA_DIR made 0700, and reuses it', () => {
    const dir = path.join(tempDir(), 'data');
    const env = parseEnv({ DATA_DIR: dir });
    const secret = appSecret(env);
    expect(Buffer.byteLength(secret)).toBeGreaterThanOrEqual(32);
    expect(modeOf(path.join(dir, 'app-secret'))).toBe(0o600);
    expect(modeOf(dir)).toBe(0o700);
    expect(appSecret(env)).toBe(secret);
  });

  it('refuses an empty or short secret file instead of signing with it', () => {
    for (const content of ['', '   \n', 'too-short']) {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'app-secret'), content, { mode: 0o600 });
      expect(() => appSecret(parseEnv({ DATA_DIR: dir }))).toThrow(EnvError);
    }
  });

  it('refuses to start on an empty secret file with a clear message and no stack trace', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'app-secret'), '');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: { ...process.env, DATA_DIR: dir, PORT: '0', APP_SECRET: '', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('APP_SECRET');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    const short = spawnSync(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: { ...process.env, DATA_DIR: tempDir(), PORT: '0', APP_SECRET: 'abc', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(short.status).toBe(1);
    expect(short.stderr).toContain('APP_SECRET');
  });

  it('stops on a DATABASE_URL the driver cannot take, or a DATA_DIR it cannot make, in one line naming it', () => {
    const start = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
        env: { ...process.env, PORT: '0', APP_SECRET: 'x'.repeat(32), DATABASE_URL: '', ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    // Junk where the staging folder or the local objects belong.
    const junk = (name: string) => {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, name), 'junk');
      return dir;
    };
    for (const [env, name] of [
      [{ DATA_DIR: tempDir(), DATABASE_URL: 'mysql://root:p%ZZ@127.0.0.1:3306/x' }, 'DATABASE_URL'],
      [{ DATA_DIR: tempDir(), DATABASE_URL: 'mysql://r%ZZ:p@127.0.0.1:3306/x' }, 'DATABASE_URL'],
      [{ DATA_DIR: path.join(file, 'data') }, 'DATA_DIR'],
      [{ DATA_DIR: junk('tmp') }, 'DATA_DIR'],
      [{ DATA_DIR: junk('objects') }, 'DATA_DIR'],
    ] as const) {
      const run = start(env);
      const output = run.stdout + run.stderr;
      expect(run.status, output).toBe(1);
      expect(output).toContain(`${name}:`);
      expect(output).not.toMatch(/\n\s+at /);
    }
  });

  it("/healthz is 503 until the database has this build's schema (MIGRATE_ON_START=false before db:migrate)", async () => {
    const dir = tempDir();
    const db = connect({ databaseUrl: `sqlite:${path.join(dir, 'h.sqlite')}`, dataDir: dir });
    const server = await startTestServer(testInner(db));
    try {
      const before = await fetch(`${server.url}/healthz`);
      expect(before.status).toBe(503);
      expect(await before.json()).toMatchObject({ ok: false, migrations: 'pending' });
      await migrateToLatest(db);
      const after = await fetch(`${server.url}/healthz`);
      expect(after.status).toBe(200);
      expect(await after.json()).toEqual({ ok: true, db: 'up' });
    } finally {
      await server.close();
      await db.destroy();
    }
  });

  it('tightens an existing world-readable DATA_DIR and SQLite files', async () => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const file = path.join(dir, 'dream-factory.sqlite');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o644);
    ensureDataDir(dir);
    expect(modeOf(dir)).toBe(0o700);
    const db = connect({ dataDir: dir });
    await db.selectNoFrom((eb) => eb.val(1).as('one')).execute();
    expect(modeOf(file)).toBe(0o600);
    const fresh = path.join(tempDir(), 'fresh', 'db.sqlite');
    const db2 = connect({ databaseUrl: `sqlite:${fresh}`, dataDir: '' });
    await db2.selectNoFrom((eb) => eb.val(1).as('one')).execute();
    for (const f of [fresh, `${fresh}-wal`, `${fresh}-shm`].filter((f) => fs.existsSync(f))) {
      expect(modeOf(f) & 0o077, f).toBe(0);
    }
    await db.destroy();
    await db2.destroy();
  });
});

describe('SSRF block list for IPv6', () => {
  it('refuses IPv4 carried inside IPv6: NAT64, 6to4, IPv4-compatible, Teredo, IPv4-mapped', () => {
    for (const address of [
      '64:ff9b::a9fe:a9fe', // NAT64 of 169.254.169.254
      '64:ff9b::7f00:1',
      '64:ff9b:1::a00:1',
      '2002:7f00:1::1', // 6to4 of 127.0.0.1
      '2002:a9fe:a9fe::1',
      '::7f00:1', // IPv4-compatible 127.0.0.1
      '::a9fe:a9fe',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
      '::ffff:169.254.169.254', // IPv4-mapped, dotted and hex
      '::ffff:a9fe:a9fe',
      '::ffff:10.0.0.1',
      '2001:db8::1',
      'fec0::1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of [
      '2001:4860:4860::8888',
      '2400:3200::1',
      '::ffff:8.8.8.8',
      '8.8.8.8',
      '47.96.1.1',
    ]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });
});

describe('/files signatures', () => {
  let root: string;
  let origin: string;
  let close: () => void;
  const storage = () =>
    new LocalStorage({ root, publicPath: '/files', secret: 's'.repeat(32), urlTtlSeconds: 60 });
  beforeAll(async () => {
    root = tempDir();
    fs.mkdirSync(path.join(root, 'u'), { recursive: true });
    fs.writeFileSync(path.join(root, 'u', 'a.png'), Buffer.from('not really a png'));
    const express = (await import('express')).default;
    const app = express();
    app.use('/files', localFilesHandler(storage()));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    close = () => server.close();
  });
  afterAll(() => close?.());

  it('cannot reuse a thumbnail signature for a download by moving a field across the separator', async () => {
    const thumb = new URL(storage().urlFor('u/a.png', { thumbnail: 'image' }), origin);
    expect((await fetch(thumb)).status).toBe(200);
    const forged = new URL(thumb);
    forged.searchParams.delete('th');
    forged.searchParams.set('dl', '\nthumbnail');
    expect(forged.search).toContain('dl=%0Athumbnail');
    expect((await fetch(forged)).status).toBe(403);
    const plain = new URL(storage().urlFor('u/a.png'), origin);
    const swapped = new URL(plain);
    swapped.searchParams.set('dl', '');
    swapped.searchParams.set('th', '1');
    expect((await fetch(swapped)).status).toBe(403);
  });
});

describe('CSP media hosts', () => {
  it('allows the public base, the bucket host from the endpoint, or the region host', () => {
    expect(mediaOrigins(parseEnv({}))).toEqual([]);
    const keys = { OSS_ACCESS_KEY_ID: 'a', OSS_ACCESS_KEY_SECRET: 'b', OSS_BUCKET: 'pics' };
    expect(mediaOrigins(parseEnv({ ...keys, OSS_REGION: 'oss-cn-hangzhou' }))).toEqual([
      'https://pics.oss-cn-hangzhou.aliyuncs.com',
    ]);
    expect(
      mediaOrigins(
        parseEnv({
          ...keys,
          OSS_REGION: 'oss-cn-hangzhou',
          OSS_ENDPOINT: 'https://oss-cn-hangzhou.aliyuncs.com',
          OSS_PUBLIC_BASE_URL: 'https://cdn.example.com/media',
        }),
      ),
    ).toEqual(['https://cdn.example.com', 'https://pics.oss-cn-hangzhou.aliyuncs.com']);
    expect(
      mediaOrigins(
        parseEnv({
          ...keys,
          OSS_REGION: 'oss-cn-hangzhou',
          OSS_ENDPOINT: 'http://oss.local:9000',
          OSS_CNAME: 'true',
        }),
      ),
    ).toEqual(['http://oss.local:9000']);
  });
});

describe.each(DIALECTS)('the admin command on %s', (dialect) => {
  it('grants and revokes the stored admin role, and refuses an unknown email', async () => {
    const t = await createTestDb(
      dialect,
      dialect === 'sqlite' ? { file: path.join(tempDir(), 'cli.sqlite') } : {},
    );
    try {
      await t.db
        .insertInto('users')
        .values({
          id: 'u1',
          email: 'ops@example.com',
          password_hash: 'x',
          role: 'user',
          credit_balance: 0,
          created_at: 1,
        })
        .execute();
      const run = (...args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'server/cli/admin.ts', ...args], {
          env: { ...process.env, DATABASE_URL: t.url, DATA_DIR: tempDir(), LOG_LEVEL: 'silent' },
          encoding: 'utf8',
          timeout: 30_000,
        });
      const role = async () =>
        (await t.db.selectFrom('users').select('role').where('id', '=', 'u1').executeTakeFirstOrThrow()).role;
      const granted = run('grant', ' OPS@example.com ');
      expect(granted.status).toBe(0);
      expect(granted.stdout).toContain('ops@example.com is now an admin');
      expect(await role()).toBe('admin');
      const audit = await t.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'admin.granted')
        .execute();
      expect(audit).toMatchObject([{ subject: 'ops@example.com' }]);
      expect(run('revoke', 'ops@example.com').status).toBe(0);
      expect(await role()).toBe('user');
      const unknown = run('grant', 'nobody@example.com');
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toContain('sign up first');
      expect(run('promote', 'ops@example.com').status).toBe(2);
    } finally {
      await t.destroy();
    }
  });
});
