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
  // RGB, three bytes a pixel (the PNG has no alpha).
  const rgb = new Uint8ClampedArray(width * height * 3);
  const [r0, g0, b0] = from;
  const [dr, dg, db] = [to[0] - r0, to[1] - g0, to[2] - b0];
  for (let y = 0; y < height; y++) {
    const sinY = Math.sin(Math.PI * 2 * y * waveFy + wavePhase);
    const cosY = Math.cos(Math.PI * 2 * y * waveFy + wavePhase);
    // The gradient position along the angle: linear in x on each row.
    const t0 = 0.5 + (y / height - 0.5) * dy - 0.5 * dx;
    const tx = dx / width;
    let i = y * width * 3;
    for (let x = 0; x < width; x++, i += 3) {
      const t = Math.min(1, Math.max(0, t0 + x * tx));
      const wave = 18 * (sinX[x]! * cosY + cosX[x]! * sinY);
      rgb[i] = r0 + dr * t + wave;
      rgb[i + 1] = g0 + dg * t + wave;
      rgb[i + 2] = b0 + db * t - wave;
    }
  }

  const circles = 5 + Math.floor(rand() * 8);
  const scale = Math.min(width, height);
  for (let c = 0; c < circles; c++) {
    const cx = rand() * width;
    const cy = rand() * height;
    const r = scale * (0.05 + rand() * 0.3);
    const [cr, cg, cb] = hsl(rand() * 360, 0.8, 0.3 + rand() * 0.5);
    const alpha = 0.25 + rand() * 0.5;
    const ring = rand() < 0.3;
    const inv = 1 / (r * r);
    const y0 = Math.max(0, Math.ceil(cy - r));
    const y1 = Math.min(height - 1, Math.floor(cy + r));
    for (let y = y0; y <= y1; y++) {
      const ddy = (y - cy) * (y - cy);
      // Only the span of this row inside the disc (d² ≤ 1), not its bounding box.
      const half = Math.sqrt(Math.max(0, r * r - ddy));
      const x0 = Math.max(0, Math.ceil(cx - half));
      const x1 = Math.min(width - 1, Math.floor(cx + half));
      for (let x = x0; x <= x1; x++) {
        const d2 = ((x - cx) * (x - cx) + ddy) * inv;
        if (d2 > 1 || (ring && d2 < 0.64)) continue;
        const a = alpha * (1 - d2 * 0.5);
        const i = (y * width + x) * 3;
        rgb[i] = rgb[i]! * (1 - a) + cr * a;
        rgb[i + 1] = rgb[i + 1]! * (1 - a) + cg * a;
        rgb[i + 2] = rgb[i + 2]! * (1 - a) + cb * a;
      }
    }
  }

  return encodeRgbPng(width, height, rgb);
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
 * A truecolour PNG from RGB pixels, Sub-filtered and Huffman-coded. The demo stands in for a provider
 * and should not be the slow part of a job: this is several times quicker than pngjs.
 */
export const encodeRgbPng = (width: number, height: number, rgb: Uint8ClampedArray): Buffer => {
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const src = y * width * 3;
    raw[row] = 1; // filter: Sub
    raw[row + 1] = rgb[src]!;
    raw[row + 2] = rgb[src + 1]!;
    raw[row + 3] = rgb[src + 2]!;
    for (let k = 3; k < width * 3; k++) raw[row + 1 + k] = (rgb[src + k]! - rgb[src + k - 3]!) & 0xff;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(2, 9); // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    crcChunk('IHDR', ihdr),
    // Huffman coding only: the Sub-filtered rows are small deltas that LZ77 matching barely shortens.
    crcChunk('IDAT', zlib.deflateSync(raw, { level: 1, strategy: zlib.constants.Z_HUFFMAN_ONLY })),
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
