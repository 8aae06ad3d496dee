import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';

/** A 32-bit seed from any text (prompt + seed + output index). */
export const hashSeed = (text: string): number => createHash('sha256').update(text).digest().readUInt32BE(0);

/** mulberry32: a tiny deterministic PRNG, enough for procedural art. */
const prng = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const hsl = (h: number, s: number, l: number): [number, number, number] => {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
};

/**
 * A PNG of procedural art: a two-colour gradient, a sine-wave sheen and translucent circles and rings,
 * all chosen by `seed`. The same seed and size always give the same bytes.
 */
export const renderDemoPng = (width: number, height: number, seed: number): Buffer => {
  const rand = prng(seed);
  const hue = rand() * 360;
  const from = hsl(hue, 0.7, 0.35 + rand() * 0.2);
  const to = hsl((hue + 90 + rand() * 180) % 360, 0.75, 0.55 + rand() * 0.2);
  const angle = rand() * Math.PI * 2;
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const waveFx = (2 + rand() * 10) / width;
  const waveFy = (2 + rand() * 10) / height;
  const wavePhase = rand() * Math.PI * 2;

  // sin(ax + by + c) = sin(ax)·cos(by + c) + cos(ax)·sin(by + c): one table per axis, no sin per pixel.
  const sinX = new Float64Array(width);
  const cosX = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    sinX[x] = Math.sin(Math.PI * 2 * x * waveFx);
    cosX[x] = Math.cos(Math.PI * 2 * x * waveFx);
  }
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sinY = Math.sin(Math.PI * 2 * y * waveFy + wavePhase);
    const cosY = Math.cos(Math.PI * 2 * y * waveFy + wavePhase);
    const ty = 0.5 + (y / height - 0.5) * dy;
    for (let x = 0; x < width; x++) {
      const t = Math.min(1, Math.max(0, ty + (x / width - 0.5) * dx));
      const wave = 18 * ((sinX[x] ?? 0) * cosY + (cosX[x] ?? 0) * sinY);
      const i = (y * width + x) * 4;
      data[i] = from[0] + (to[0] - from[0]) * t + wave;
      data[i + 1] = from[1] + (to[1] - from[1]) * t + wave;
      data[i + 2] = from[2] + (to[2] - from[2]) * t - wave;
      data[i + 3] = 255;
    }
  }

  const circles = 5 + Math.floor(rand() * 8);
  const scale = Math.min(width, height);
  for (let c = 0; c < circles; c++) {
    const cx = rand() * width;
    const cy = rand() * height;
    const r = scale * (0.05 + rand() * 0.3);
    const color = hsl(rand() * 360, 0.8, 0.3 + rand() * 0.5);
    const alpha = 0.25 + rand() * 0.5;
    const ring = rand() < 0.3;
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(height - 1, Math.ceil(cy + r));
    const inv = 1 / (r * r);
    for (let y = y0; y <= y1; y++) {
      const ddy = (y - cy) * (y - cy);
      for (let x = x0; x <= x1; x++) {
        // Squared distance over r²: no square root needed for the disc, the ring or the falloff.
        const d2 = ((x - cx) * (x - cx) + ddy) * inv;
        if (d2 > 1 || (ring && d2 < 0.64)) continue;
        const a = alpha * (1 - d2 * 0.5);
        const i = (y * width + x) * 4;
        data[i] = (data[i] ?? 0) * (1 - a) + color[0] * a;
        data[i + 1] = (data[i + 1] ?? 0) * (1 - a) + color[1] * a;
        data[i + 2] = (data[i + 2] ?? 0) * (1 - a) + color[2] * a;
      }
    }
  }

  return encodeRgbPng(width, height, data);
};

const crcChunk = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body, zlib.crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
};

/**
 * A truecolour PNG from RGBA pixels (alpha dropped), Sub-filtered and deflated fast. The demo stands in
 * for a provider and should not be the slow part of a job: this is several times quicker than pngjs.
 */
export const encodeRgbPng = (width: number, height: number, rgba: Uint8ClampedArray): Buffer => {
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    raw[row] = 1; // filter: Sub
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 4;
      const d = row + 1 + x * 3;
      for (let c = 0; c < 3; c++) {
        const left = x > 0 ? (rgba[s - 4 + c] ?? 0) : 0;
        raw[d + c] = ((rgba[s + c] ?? 0) - left) & 0xff;
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(2, 9); // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    crcChunk('IHDR', ihdr),
    crcChunk('IDAT', zlib.deflateSync(raw, { level: 1 })),
    crcChunk('IEND', Buffer.alloc(0)),
  ]);
};

/** Places in the Mandelbrot set worth zooming into. */
const ZOOM_TARGETS: ReadonlyArray<readonly [number, number]> = [
  [-0.743643887037151, 0.13182590420533],
  [-0.7453, 0.1127],
  [-1.25066, 0.02012],
  [-0.16, 1.0405],
  [0.2549, 0.0005],
  [-1.7497591451303665, 0],
];

/** The ffmpeg binary shipped by @ffmpeg-installer/ffmpeg. */
export const bundledFfmpegPath = (): string => ffmpegInstaller.path;

const run = (command: string, args: string[], signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}: ${stderr.trim()}`)),
    );
  });

/**
 * A playable H.264 MP4 (yuv420p, faststart, 12 fps, silent) of a colour-shifted Mandelbrot zoom chosen by
 * `seed`, exactly `durationSeconds` long at `width`×`height` (both even).
 */
export const renderDemoMp4 = async (
  options: { width: number; height: number; durationSeconds: number; seed: number; ffmpegPath?: string },
  signal?: AbortSignal,
): Promise<Buffer> => {
  const rand = prng(options.seed);
  const target = ZOOM_TARGETS[Math.floor(rand() * ZOOM_TARGETS.length)] ?? ZOOM_TARGETS[0] ?? [0, 0];
  const startScale = (2 + rand() * 2).toFixed(3);
  const endScale = (0.05 + rand() * 0.4).toFixed(4);
  const hue = Math.floor(rand() * 360);
  const source =
    `mandelbrot=s=${options.width}x${options.height}:r=12:maxiter=256:inner=convergence` +
    `:start_x=${target[0]}:start_y=${target[1]}:start_scale=${startScale}:end_scale=${endScale}` +
    `,hue=h=${hue}:s=1.3`;
  const dir = await mkdtemp(join(tmpdir(), 'demo-video-'));
  const out = join(dir, 'out.mp4');
  try {
    await run(
      options.ffmpegPath ?? bundledFfmpegPath(),
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        source,
        '-t',
        String(options.durationSeconds),
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-movflags',
        '+faststart',
        '-fflags',
        '+bitexact',
        '-map_metadata',
        '-1',
        '-y',
        out,
      ],
      signal,
    );
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
