import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../server/env.ts';
import { lintDockerfile, parseDockerfile, parseYaml, type Yaml } from './container-lint.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
type Map = { [key: string]: Yaml };
const map = (value: Yaml | undefined): Map => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a mapping');
  return value;
};

describe('Dockerfile', () => {
  const source = read('Dockerfile');

  it('passes the hadolint-style rules: multi-stage, non-root USER, exec-form CMD, HEALTHCHECK on /healthz', () => {
    expect(lintDockerfile(source)).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    const bad = 'FROM node:20-slim\nWORKDIR app\nRUN npm install\nCMD node dist/server/index.js\n';
    const problems = lintDockerfile(bad).join('\n');
    for (const rule of [
      'multi-stage',
      'non-root USER',
      'exec (JSON) form',
      'HEALTHCHECK',
      'DL3000',
      'DL3016',
    ])
      expect(problems).toContain(rule);
  });

  it('runs the built server, which the build produces from server/index.ts', () => {
    const cmd = parseDockerfile(source)
      .filter((i) => i.op === 'CMD')
      .at(-1)!;
    expect(JSON.parse(cmd.args)).toEqual(['node', 'dist/server/index.js']);
    expect(fs.existsSync(path.join(ROOT, 'server/index.ts'))).toBe(true);
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', '.env', '.git']) expect(ignored).toContain(entry);
  });
});

describe('compose.yaml', () => {
  const compose = map(parseYaml(read('compose.yaml')));
  const services = map(compose.services);
  const known = new Set(Object.keys(EnvSchema.shape));

  it('has MariaDB with a health check, and api and worker services that wait for health', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'db', 'worker']);
    const db = map(services.db);
    expect(String(db.image)).toMatch(/^mariadb:\d/);
    expect(map(db.healthcheck).test).toEqual(['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized']);
    expect(map(map(map(services.api).depends_on).db).condition).toBe('service_healthy');
    expect(map(map(map(services.worker).depends_on).api).condition).toBe('service_healthy');
  });

  it('gives each service its ROLE and lets only the api migrate at start', () => {
    const api = map(map(services.api).environment);
    const worker = map(map(services.worker).environment);
    expect([api.ROLE, worker.ROLE]).toEqual(['api', 'worker']);
    expect([api.MIGRATE_ON_START, worker.MIGRATE_ON_START]).toEqual(['true', 'false']);
    for (const env of [api, worker])
      expect(String(env.DATABASE_URL)).toMatch(/^mysql:\/\/dream:.*@db:3306\/dreamfactory$/);
  });

  it('passes the OSS and provider settings to both app services, and only variables the app knows', () => {
    for (const name of ['api', 'worker']) {
      const env = map(map(services[name]).environment);
      for (const key of [
        'OSS_BUCKET',
        'OSS_REGION',
        'OSS_ACCESS_KEY_ID',
        'OSS_ACCESS_KEY_SECRET',
        'DASHSCOPE_API_KEY',
        'OPENAI_API_KEY',
      ])
        expect(env[key], `${name} ${key}`).toBe(`\${${key}:-}`);
      for (const key of Object.keys(env)) expect(known.has(key), `${name} sets unknown ${key}`).toBe(true);
      // Every variable the app reads reaches it (SMTP, the ECS RAM role, provider limits…); PORT, HOST
      // and DATA_DIR are the image's.
      for (const key of known)
        if (!['PORT', 'HOST', 'DATA_DIR'].includes(key))
          expect(env, `${name} lacks ${key}`).toHaveProperty(key);
    }
  });

  it('gives the app services time to end their streams and hand jobs back before Docker kills them', () => {
    for (const name of ['api', 'worker']) {
      const grace = String(map(services[name]).stop_grace_period ?? '10s');
      expect(Number(/^(\d+)s$/.exec(grace)?.[1]), name).toBeGreaterThanOrEqual(20);
    }
  });

  it('declares every named volume it mounts', () => {
    const declared = Object.keys(map(compose.volumes));
    for (const service of Object.values(services)) {
      for (const mount of (map(service).volumes as string[] | undefined) ?? []) {
        const source = mount.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(declared).toContain(source);
      }
    }
  });

  it('the parser refuses what it does not understand instead of guessing', () => {
    expect(() => parseYaml('a:\n\tb: 1')).toThrow(/tabs/);
    expect(() => parseYaml('a: &x 1')).toThrow(/anchors/);
    expect(() => parseYaml('a: 1\na: 2')).toThrow(/duplicate/);
    expect(() => parseYaml('a: 1\n    b: 2')).toThrow(/indentation/);
  });
});
