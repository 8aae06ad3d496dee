import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startOssServer } from '../../test/oss-server/server.ts';

/**
 * The bench's other side, in its own process so the bench's RSS is only the client's:
 * the OSS test server, a static file server standing in for a provider's result URL,
 * and a bare PUT sink for the plain loopback copy baseline.
 */
const [dir = '', filesDir = ''] = process.argv.slice(2);

const oss = await startOssServer({
  dir,
  bucket: 'bench-bucket',
  accessKeyId: 'bench-ak',
  accessKeySecret: 'bench-secret',
});

const files = createServer(async (req, res) => {
  try {
    if (req.method === 'PUT') {
      // Plain sink: stream the body to disk, then drop it.
      const target = join(dir, `sink-${Date.now()}`);
      await pipeline(req, createWriteStream(target));
      await rm(target, { force: true });
      res.writeHead(200).end();
      return;
    }
    const path = join(filesDir, decodeURIComponent((req.url ?? '/').slice(1)));
    const info = await stat(path);
    res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': String(info.size) });
    await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), res);
  } catch {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  }
});
await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));

process.stdout.write(
  `${JSON.stringify({ ossUrl: oss.url, filesUrl: `http://127.0.0.1:${(files.address() as AddressInfo).port}` })}\n`,
);
process.on('SIGTERM', () => {
  files.close();
  oss.close().then(() => process.exit(0));
});
