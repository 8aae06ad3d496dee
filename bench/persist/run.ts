import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OSS from 'ali-oss';
import { OssStorage } from '../../server/storage/oss.ts';
import { persist } from '../../server/storage/persist.ts';

/**
 * Persist generated 1 GiB and 4 GiB files through OssStorage to the OSS test server (in a child process),
 * next to a naive arrayBuffer()-then-put baseline and a plain loopback copy of the same bytes.
 *   npx tsx bench/persist/run.ts [--sizes=1024,4096] [--naive-max=1024] [--dir=/tmp]
 */
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1024,4096' },
    'naive-max': { type: 'string', default: '1024' },
    dir: { type: 'string', default: tmpdir() },
    'part-mb': { type: 'string', default: '8' },
    parallel: { type: 'string', default: '4' },
    repeat: { type: 'string', default: '3' },
  },
});
const MB = 1024 * 1024;
const sizesMb = values.sizes.split(',').map((s) => Number(s.trim()));
const naiveMaxMb = Number(values['naive-max']);
const here = dirname(fileURLToPath(import.meta.url));

const work = await mkdtemp(join(values.dir, 'persist-bench-'));
const filesDir = join(work, 'files');
const ossDir = join(work, 'oss');
const tmpDir = join(work, 'tmp');
await Promise.all([filesDir, ossDir, tmpDir].map((d) => mkdir(d, { recursive: true })));

/** A file that sniffs as MP4 (ftyp box), filled with non-repeating-looking bytes, written as a stream. */
const generate = async (path: string, sizeMb: number) => {
  const chunk = Buffer.alloc(MB);
  let seed = 0x9e3779b9;
  for (let i = 0; i < chunk.length; i += 4) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    chunk.writeUInt32LE(seed, i);
  }
  const ftyp = Buffer.from('00000018667479706d703432000000006d703432', 'hex');
  await pipeline(async function* () {
    for (let i = 0; i < sizeMb; i += 1) {
      const out = Buffer.from(chunk);
      out.writeUInt32LE(i, 64);
      if (i === 0) ftyp.copy(out, 0);
      yield out;
    }
  }, createWriteStream(path));
};

/** Peak RSS growth over a run, sampled every 20 ms. */
const measure = async <T>(run: () => Promise<T>) => {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const started = performance.now();
  const result = await run();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { result, seconds, rssGrowthMb: (peak - before) / MB, peakRssMb: peak / MB };
};

const startServers = async (): Promise<{ child: ChildProcess; ossUrl: string; filesUrl: string }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'servers.ts'), ossDir, filesDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench servers exited with ${code}`)));
  });
  return { child, ...(JSON.parse(first) as { ossUrl: string; filesUrl: string }) };
};

const plainCopy = async (filesUrl: string, name: string) => {
  const started = performance.now();
  const local = join(tmpDir, 'plain');
  const response = await fetch(`${filesUrl}/${name}`);
  await pipeline(
    Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
    createWriteStream(local),
  );
  const size = (await stat(local)).size;
  const downloaded = performance.now();
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${filesUrl}/sink`,
      { method: 'PUT', headers: { 'Content-Length': String(size) } },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    pipeline(createReadStream(local), req).catch(reject);
  });
  await rm(local, { force: true });
  return { downloadSeconds: (downloaded - started) / 1000 };
};

const servers = await startServers();
const ossOptions = {
  bucket: 'bench-bucket',
  region: 'oss-cn-hangzhou',
  endpoint: servers.ossUrl,
  cname: true,
  accessKeyId: 'bench-ak',
  accessKeySecret: 'bench-secret',
  urlTtlSeconds: 3600,
  timeoutMs: 120_000,
  partSizeBytes: Number(values['part-mb']) * MB,
  parallel: Number(values.parallel),
};

const rows: string[] = [];
const row = (
  label: string,
  sizeMb: number,
  m: { seconds: number; rssGrowthMb: number; peakRssMb: number } | null,
  note = '',
) => {
  const line = m
    ? `${label.padEnd(34)} ${String(sizeMb).padStart(6)} MB  ${(sizeMb / m.seconds).toFixed(0).padStart(6)} MB/s  ${m.rssGrowthMb.toFixed(0).padStart(6)} MB RSS growth (peak ${m.peakRssMb.toFixed(0)} MB)  ${note}`
    : `${label.padEnd(34)} ${String(sizeMb).padStart(6)} MB  ${note}`;
  rows.push(line);
  console.log(line);
};

console.log(
  `node ${process.version}, work dir ${work}, parts ${values['part-mb']} MB × ${values.parallel} in flight, gc ${typeof (globalThis as { gc?: unknown }).gc}`,
);
try {
  // Warm up fetch, ali-oss and the JIT so the first measured row is not paying for module loading.
  await generate(join(filesDir, 'warmup.mp4'), 32);
  await plainCopy(servers.filesUrl, 'warmup.mp4');
  await persist(
    { storage: new OssStorage(ossOptions), tmpDir, allowPrivateNetwork: true },
    {
      source: { url: `${servers.filesUrl}/warmup.mp4` },
      kind: 'video',
      keyFor: (ext) => `bench/warmup.${ext}`,
    },
  );
  await new OssStorage(ossOptions).delete('bench/warmup.mp4');
  for (const sizeMb of sizesMb) {
    const name = `source-${sizeMb}.mp4`;
    await generate(join(filesDir, name), sizeMb);

    // Alternate the two and keep each one's best run: this VM's disk and loopback are noisy.
    type Run = Awaited<ReturnType<typeof measure>> & { downloadSeconds: number };
    let plain: Run | undefined;
    let streamed: Run | undefined;
    const storage = new OssStorage(ossOptions);
    for (let i = 0; i < Number(values.repeat); i += 1) {
      const p = await measure(() => plainCopy(servers.filesUrl, name));
      const pr = { ...p, downloadSeconds: p.result.downloadSeconds };
      if (!plain || pr.seconds < plain.seconds) plain = pr;
      const started = performance.now();
      let uploadStarted = 0;
      const s = await measure(() =>
        persist(
          { storage, tmpDir, allowPrivateNetwork: true, maxVideoBytes: 8 * 1024 * MB },
          {
            source: { url: `${servers.filesUrl}/${name}` },
            kind: 'video',
            keyFor: (ext) => `bench/${sizeMb}.${ext}`,
            onProgress: (stage) => {
              if (stage === 'uploading' && uploadStarted === 0) uploadStarted = performance.now();
            },
          },
        ),
      );
      if (s.result.size !== sizeMb * MB) throw new Error('size mismatch');
      const sr = { ...s, downloadSeconds: (uploadStarted - started) / 1000 };
      if (!streamed || sr.seconds < streamed.seconds) streamed = sr;
      await storage.delete(`bench/${sizeMb}.mp4`);
    }
    if (!plain || !streamed) throw new Error('no runs');
    const split = (r: Run) =>
      `download ${(sizeMb / r.downloadSeconds).toFixed(0)} MB/s, upload ${(sizeMb / (r.seconds - r.downloadSeconds)).toFixed(0)} MB/s`;
    row('plain loopback copy (GET→file→PUT)', sizeMb, plain, split(plain));
    const ratio = ((plain.seconds / streamed.seconds) * 100).toFixed(0);
    row(
      'persist (stream → file → multipart)',
      sizeMb,
      streamed,
      `${ratio}% of plain copy; ${split(streamed)}`,
    );
    if ((await readdir(tmpDir)).length > 0) throw new Error('persist left temp files behind');
  }
  // The naive baseline last: its RSS is not given back, and would hide the streaming runs' figures.
  for (const sizeMb of sizesMb) {
    const name = `source-${sizeMb}.mp4`;
    if (sizeMb <= naiveMaxMb) {
      const naive = await measure(async () => {
        const response = await fetch(`${servers.filesUrl}/${name}`);
        const bytes = Buffer.from(await response.arrayBuffer());
        const client = new OSS({ ...ossOptions, timeout: 600_000 });
        await client.put(`bench/naive-${sizeMb}.mp4`, bytes);
      });
      row('naive (arrayBuffer() then put)', sizeMb, naive);
      await new OssStorage(ossOptions).delete(`bench/naive-${sizeMb}.mp4`);
    } else {
      row(
        'naive (arrayBuffer() then put)',
        sizeMb,
        null,
        `skipped above ${naiveMaxMb} MB (would hold it all in memory)`,
      );
    }
    await rm(join(filesDir, name), { force: true });
  }
} finally {
  servers.child.kill('SIGTERM');
  await new Promise((resolve) => servers.child.once('exit', resolve));
  await rm(work, { recursive: true, force: true });
}
console.log('\nSummary');
for (const line of rows) console.log(line);
