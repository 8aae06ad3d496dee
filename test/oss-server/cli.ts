import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startOssServer } from './server.ts';

/**
 * `npm run oss:local [-- --port 9000 --dir ./data/oss --allow-v1]`: an OSS-compatible server for local runs
 * and the bench. V4 only unless --allow-v1 (or OSS_LOCAL_ALLOW_V1=true).
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OSS_LOCAL_PORT ?? '9000' },
    dir: { type: 'string', default: process.env.OSS_LOCAL_DIR ?? './data/oss-local' },
    bucket: { type: 'string', default: 'dream-factory-local' },
    'access-key-id': { type: 'string', default: 'local-access-key' },
    'access-key-secret': { type: 'string', default: 'local-secret-key' },
    region: { type: 'string', default: 'oss-cn-hangzhou' },
    // New buckets refuse Signature V1; this accepts it, for trying OSS_SIGNATURE_VERSION=1.
    'allow-v1': {
      type: 'boolean',
      default: ['1', 'true', 'yes'].includes(process.env.OSS_LOCAL_ALLOW_V1 ?? ''),
    },
    json: { type: 'boolean', default: false },
  },
});

const dir = resolve(values.dir);
await mkdir(dir, { recursive: true });
const server = await startOssServer({
  dir,
  port: Number(values.port),
  bucket: values.bucket,
  accessKeyId: values['access-key-id'],
  accessKeySecret: values['access-key-secret'],
  region: values.region,
  allowV1: values['allow-v1'],
});

if (values.json) {
  // Machine-readable first line, for parents that start this as a child process (bench/persist).
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port })}\n`);
} else {
  process.stdout.write(
    [
      `OSS-compatible test server on ${server.url} (objects in ${dir})`,
      `Signatures: V4${server.allowV1 ? ' and V1 (--allow-v1)' : ' only (V1 refused; --allow-v1 accepts it)'}`,
      '',
      'Point the app at it with:',
      `  OSS_BUCKET=${values.bucket}`,
      `  OSS_REGION=${values.region}`,
      `  OSS_ACCESS_KEY_ID=${values['access-key-id']}`,
      `  OSS_ACCESS_KEY_SECRET=${values['access-key-secret']}`,
      `  OSS_ENDPOINT=${server.url}`,
      '  OSS_CNAME=true',
      `  # optional, uploads by the "internal" name (Host ${server.internalHost}):`,
      `  # OSS_INTERNAL_ENDPOINT=${server.internalUrl}`,
      '',
      `Faults: curl -XPOST ${server.url}/__faults -d '{"mode":"error","count":3}'   (modes: error|hang|reset|lose;`,
      '        count: N or "all"; optional "status", "operation":"UploadPart"; {"clear":true} clears)',
      `State:  curl ${server.url}/__state`,
      '',
    ].join('\n'),
  );
}

const stop = () => {
  server.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
