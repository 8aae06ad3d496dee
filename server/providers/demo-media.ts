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

/** Whether the angle interval [a, b] holds peak + 2πk for some whole k. */
const holds = (a: number, b: number, peak: number): boolean =>
  Math.ceil((a - peak) / (Math.PI * 2)) * Math.PI * 2 + peak <= b;

/**
 * Rows in a group sharing the first row's background levels (see `paintRows`): half the per-pixel work
 * and half the deflate input that costs anything. The background moves by less than a palette step a
 * row (up to some 3 colour steps where the sheen's stripes are steepest), which does not show even
 * zoomed in; groups of 3 or 4 show there as stair steps.
 */
const GROUP = 2;

/** More distinct circle covers than this and each pixel shows only its topmost circle. */
const MAX_COVERS = 96;

interface Spans {
  /** Row y's spans are rowSpans[y] to rowSpans[y + 1] − 1. */
  rowSpans: Int32Array;
  spanX0: Int32Array;
  /** Exclusive. */
  spanX1: Int32Array;
  /** The circles over the span, as bits (circle c is 1 << c); 0 for the background. */
  spanCover: Int32Array;
}

/** Per cover (index: its bits), how a background level maps to its palette entries. */
interface Bands {
  scale: Float64Array;
  offset: Float64Array;
  first: Int32Array;
  last: Int32Array;
}

/** The sheen: sin(φ) with φ = phaseX·x + phaseY·y + phase0, from per-axis tables (see `waveTables`). */
interface Wave {
  phaseX: number;
  phaseY: number;
  phase0: number;
  sinX: Float64Array;
  cosX: Float64Array;
  sinY: Float64Array;
  cosY: Float64Array;
}

/** sin(ax + by + c) = sin(ax)·cos(by + c) + cos(ax)·sin(by + c): one table per axis, no sin per pixel. */
const waveTables = (width: number, height: number, phaseX: number, phaseY: number, phase0: number): Wave => {
  const sinX = new Float64Array(width);
  const cosX = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    sinX[x] = Math.sin(phaseX * x);
    cosX[x] = Math.cos(phaseX * x);
  }
  const sinY = new Float64Array(height);
  const cosY = new Float64Array(height);
  for (let y = 0; y < height; y++) {
    sinY[y] = Math.sin(phaseY * y + phase0);
    cosY[y] = Math.cos(phaseY * y + phase0);
  }
  return { phaseX, phaseY, phase0, sinX, cosX, sinY, cosY };
};

/**
 * Each row as spans [x0, x1) of one cover, from the circles' spans on it, and the range of u under each
 * cover seen: lowU[cover] to highU[cover] (an empty range, +∞ to −∞, for covers not seen). Rows come in
 * groups that share the first row's u (see `paintRows`), u = clamp(t0 + x·tx + y·ty, 0, 1) + sheen·sin(φ).
 */
const coverSpans = (
  width: number,
  height: number,
  disc: Discs,
  u: { t0: number; ty: number; tx: number; sheen: number; wave: Wave },
): Spans & { lowU: Float64Array; highU: Float64Array } => {
  const circles = disc.cx.length;
  const events = new Int32Array(circles * 4);
  const rowSpans = new Int32Array(height + 1);
  // At most one span more than events in a row (four events a ring, two a disc).
  const out: SpanBounds = {
    spanX0: new Int32Array(height * (4 * circles + 1)),
    spanX1: new Int32Array(height * (4 * circles + 1)),
    spanCover: new Int32Array(height * (4 * circles + 1)),
    lowU: new Float64Array(1 << circles).fill(Number.POSITIVE_INFINITY),
    highU: new Float64Array(1 << circles).fill(Number.NEGATIVE_INFINITY),
    tx: u.tx,
    sheen: u.sheen,
    wave: u.wave,
  };
  let spans = 0;
  for (let y = 0; y < height; y++) {
    rowSpans[y] = spans;
    const base = y - (y % GROUP);
    spans = sweepRow(out, spans, width, events, rowEvents(y, width, disc, events), base, u.t0 + base * u.ty);
  }
  rowSpans[height] = spans;
  return { rowSpans, ...out };
};

interface Discs {
  cx: Float64Array;
  cy: Float64Array;
  radius: Float64Array;
  ring: boolean[];
}

/**
 * Where the circles cross row y, as events x·16 + circle (a circle's bit flips at each: where its span
 * starts and one past where it ends), sorted, into `events`; returns how many.
 */
const rowEvents = (y: number, width: number, disc: Discs, events: Int32Array): number => {
  const { cx, cy, radius, ring } = disc;
  let n = 0;
  for (let c = 0; c < cx.length; c++) {
    const r = radius[c]!;
    const ddy = (y - cy[c]!) * (y - cy[c]!);
    if (ddy > r * r) continue;
    const half = Math.sqrt(r * r - ddy);
    const x0 = Math.max(0, Math.ceil(cx[c]! - half));
    const x1 = Math.min(width - 1, Math.floor(cx[c]! + half));
    // A ring (d² ≥ 0.64) crosses a row as two spans either side of its hole.
    const hole = ring[c] ? 0.64 * r * r - ddy : 0;
    const inner = hole > 0 ? Math.sqrt(hole) : -1;
    const left = inner < 0 ? x1 : Math.min(x1, Math.floor(cx[c]! - inner));
    const right = inner < 0 ? x1 + 1 : Math.max(x0, Math.ceil(cx[c]! + inner));
    if (x0 <= left) {
      events[n++] = x0 * 16 + c;
      events[n++] = (left + 1) * 16 + c;
    }
    if (right <= x1 && inner >= 0) {
      events[n++] = right * 16 + c;
      events[n++] = (x1 + 1) * 16 + c;
    }
  }
  for (let i = 1; i < n; i++) {
    const e = events[i]!;
    let j = i - 1;
    for (; j >= 0 && events[j]! > e; j--) events[j + 1] = events[j]!;
    events[j + 1] = e;
  }
  return n;
};

interface SpanBounds {
  spanX0: Int32Array;
  spanX1: Int32Array;
  spanCover: Int32Array;
  lowU: Float64Array;
  highU: Float64Array;
  tx: number;
  sheen: number;
  wave: Wave;
}

/**
 * Appends a row's spans (from its n sorted events) at index `spans` and widens each cover's u range by
 * the u over its span (from group row `base`, t0 its t at x = 0); returns the new span count.
 */
const sweepRow = (
  out: SpanBounds,
  spans: number,
  width: number,
  events: Int32Array,
  n: number,
  base: number,
  t0: number,
): number => {
  const { spanX0, spanX1, spanCover, lowU, highU, tx, sheen } = out;
  const { phaseX, phaseY, phase0, sinX, cosX } = out.wave;
  const phase = phase0 + base * phaseY;
  const sinY = out.wave.sinY[base]!;
  const cosY = out.wave.cosY[base]!;
  let cover = 0;
  for (let i = 0, x0 = 0; x0 < width; ) {
    for (; i < n && events[i]! >> 4 === x0; i++) cover ^= 1 << (events[i]! & 15);
    const x1 = i < n ? events[i]! >> 4 : width;
    spanX0[spans] = x0;
    spanX1[spans] = x1;
    spanCover[spans++] = cover;
    if (cover !== 0) {
      // Over the span t is monotonic and φ rises: sin(φ) peaks inside it or at an end.
      const ta = Math.min(1, Math.max(0, t0 + x0 * tx));
      const tb = Math.min(1, Math.max(0, t0 + (x1 - 1) * tx));
      const a = phase + x0 * phaseX;
      const b = phase + (x1 - 1) * phaseX;
      const sa = sinX[x0]! * cosY + cosX[x0]! * sinY;
      const sb = sinX[x1 - 1]! * cosY + cosX[x1 - 1]! * sinY;
      const wLow = holds(a, b, -Math.PI / 2) ? -1 : Math.min(sa, sb);
      const wHigh = holds(a, b, Math.PI / 2) ? 1 : Math.max(sa, sb);
      lowU[cover] = Math.min(lowU[cover]!, Math.min(ta, tb) + sheen * wLow);
      highU[cover] = Math.max(highU[cover]!, Math.max(ta, tb) + sheen * wHigh);
    }
    x0 = x1;
  }
  return spans;
};

/**
 * Writes the PNG rows (filter byte, then one palette index a pixel) into `raw`, GROUP rows at a time.
 * The rows of a group share the first one's background levels,
 * v = clamp(level0[y] + x·stepTx, low, high) + sinX[x]·cosY[y] + cosX[x]·sinY[y] (the sheen scaled by
 * `amplitude`), and each row has its own circles. A pixel's index is v·scale + offset of its cover's
 * band plus an ordered dither threshold (2×2 over x and the group), truncated and clamped to the band.
 * The first row of a group is Sub-filtered (runs of zeros where the index holds); the others are
 * Up-filtered and differ from the row above only where their cover does (at circle edges), so they are
 * zeros that deflate takes in a few long runs.
 */
const paintRows = (
  raw: Buffer,
  width: number,
  height: number,
  spans: Spans,
  band: Bands,
  level: { level0: Float64Array; stepTx: number; low: number; high: number; amplitude: number; wave: Wave },
) => {
  const { rowSpans, spanX0, spanX1, spanCover } = spans;
  const { stepTx, low, high, amplitude, wave } = level;
  const { scale, offset, first, last } = band;
  const stride = width + 1;
  const v = new Float64Array(width);
  for (let y = 0; y < height; y += GROUP) {
    const row = y * stride + 1;
    raw[row - 1] = 1; // Sub
    // Dither thresholds 1/8, 5/8 along one group's row, 7/8, 3/8 along the next one's.
    const [even, odd] = (y / GROUP) & 1 ? [0.875, 0.375] : [0.125, 0.625];
    const sinY = amplitude * wave.sinY[y]!;
    const cosY = amplitude * wave.cosY[y]!;
    levelRow(v, level.level0[y]!, stepTx, low, high, wave.sinX, wave.cosX, sinY, cosY, even, odd);
    let left = 0;
    for (let k = rowSpans[y]!; k < rowSpans[y + 1]!; k++) {
      const c = spanCover[k]!;
      left = subSpan(raw, row, v, spanX0[k]!, spanX1[k]!, scale[c]!, offset[c]!, first[c]!, last[c]!, left);
    }
    for (let r = y + 1; r < y + GROUP && r < height; r++) {
      const next = r * stride + 1;
      raw[next - 1] = 2; // Up
      raw.fill(0, next, next + width);
      // A row differs from the one above only where its cover does.
      let a = rowSpans[r - 1]!;
      let b = rowSpans[r]!;
      for (let x0 = 0; x0 < width; ) {
        const x1 = Math.min(spanX1[a]!, spanX1[b]!);
        const c = spanCover[b]!;
        const above = spanCover[a]!;
        if (c !== above) {
          upSpan(
            raw,
            next,
            v,
            x0,
            x1,
            [scale[c]!, offset[c]!, first[c]!, last[c]!],
            [scale[above]!, offset[above]!, first[above]!, last[above]!],
          );
        }
        if (spanX1[a] === x1) a++;
        if (spanX1[b] === x1) b++;
        x0 = x1;
      }
    }
  }
};

/** A group's background levels, v[x] (see `paintRows`), plus the dither threshold for even and odd x. */
const levelRow = (
  v: Float64Array,
  level0: number,
  stepTx: number,
  low: number,
  high: number,
  sinX: Float64Array,
  cosX: Float64Array,
  sinY: number,
  cosY: number,
  even: number,
  odd: number,
) => {
  for (let x = 0; x < v.length; x++) {
    v[x] =
      Math.min(high, Math.max(low, level0 + x * stepTx)) +
      sinX[x]! * cosY +
      cosX[x]! * sinY +
      (x & 1 ? odd : even);
  }
};

/**
 * Writes the Sub-filtered indices of pixels x0..x1 − 1 of a row (raw[row + x]): floor(v·s + o), within
 * first..last; `left` is the index before x0. Returns the index at x1 − 1.
 */
const subSpan = (
  raw: Buffer,
  row: number,
  v: Float64Array,
  x0: number,
  x1: number,
  s: number,
  o: number,
  first: number,
  last: number,
  left: number,
): number => {
  const top = last + 0.5;
  for (let x = x0; x < x1; x++) {
    const index = Math.min(top, Math.max(first, v[x]! * s + o)) | 0;
    raw[row + x] = index - left;
    left = index;
  }
  return left;
};

/**
 * Writes the Up-filtered indices of pixels x0..x1 − 1 of a row whose cover (band s, o, first, last)
 * differs from the cover above (band sa, oa, fa, la) there: the difference of the two indices.
 */
const upSpan = (
  raw: Buffer,
  row: number,
  v: Float64Array,
  x0: number,
  x1: number,
  band: readonly [s: number, o: number, first: number, last: number],
  above: readonly [s: number, o: number, first: number, last: number],
) => {
  const [s, o, first, last] = band;
  const [sa, oa, fa, la] = above;
  for (let x = x0; x < x1; x++) {
    raw[row + x] =
      (Math.min(last + 0.5, Math.max(first, v[x]! * s + o)) | 0) -
      (Math.min(la + 0.5, Math.max(fa, v[x]! * sa + oa)) | 0);
  }
};

/**
 * Layouts per image size. A demo image is a layout (its geometry: the costly part) painted in colours
 * drawn from its seed (cheap, see `paintDemoPng`). The seed picks the layout, so a size has this many
 * pictures up to colour, and once a layout is rendered every seed that picks it costs only a palette.
 */
export const LAYOUTS = 64;

/**
 * The colour span a layout is made for: the largest channel difference between the gradient's two ends,
 * which sets the sheen's depth and the cap on background levels (one a colour step). A layout may not
 * depend on its colours, so all take this one. The seeds' real spans are 93–212 (median 193): the sheen
 * is 9–21 colour steps deep (it was 20 for all), and the cap allows a level per 1.06 steps on the widest.
 */
const NOMINAL_SPAN = 200;

/**
 * The colour-free part of a demo image (see `renderDemoLayout`): the PNG's chunks but its palette, and
 * what each palette entry stands for, for `paintDemoPng` to colour. Its arrays own their buffers (none is
 * a view of Node's shared Buffer pool), so a worker thread can hand one over without a copy.
 */
export interface DemoLayout {
  width: number;
  height: number;
  /** Which of the size's `LAYOUTS`. */
  index: number;
  /** Per circle, its opacity (flat over the circle). */
  alpha: Float64Array<ArrayBuffer>;
  /** Per palette entry, in order: its position along the gradient (shifted by the sheen)... */
  entryU: Float64Array<ArrayBuffer>;
  /** ...and its cover, the circles over it, as bits (circle c is 1 << c; 0 for the background). */
  entryCover: Int32Array<ArrayBuffer>;
  /** The PNG signature and the IHDR chunk. */
  head: Uint8Array<ArrayBuffer>;
  /** The IDAT chunk (the deflated index rows) and IEND. */
  tail: Uint8Array<ArrayBuffer>;
}

/** The layout a seed is painted on: seeds are hashes already, so their low bits spread evenly. */
export const demoLayoutIndex = (seed: number): number => (seed >>> 0) % LAYOUTS;

/**
 * Layout `index` of width×height (see `DemoLayout`), from a PRNG seeded by those three: a gradient at
 * some angle, a sine-wave sheen and 5–12 translucent circles and rings, as index rows and the palette
 * entries they point at. About 2–5 ms for 512×512 on a 2-vCPU machine (`npx tsx bench/render/run.ts`).
 *
 * The PNG is indexed colour (one byte a pixel, at most 256 colours): the picture is a function of two
 * things per pixel, `u`, the position along the gradient shifted by the sheen, and its cover, the set of
 * circles over it (circles are flat and translucent, so a cover's colour is the background at `u` seen
 * through them, overlaps included). Each cover seen in the image gets a band of palette entries, as many
 * as its colour needs to step as finely as the background does (the circles in front flatten the
 * gradient, so few); the background gets the rest, up to one entry a colour step (of `NOMINAL_SPAN`); a
 * 2×2 ordered dither between neighbouring entries hides the steps. A row is spans of one cover each (from
 * the circles' spans on it), and a pixel's index is its cover's band at its `u`. Rows go in pairs (see
 * `paintRows`), and the rows deflate (Z_RLE) as runs of zeros and small differences. None of this
 * depends on colour: an entry's colour is computed from its (u, cover) and the circles' opacities only
 * when the layout is painted.
 */
export const renderDemoLayout = (width: number, height: number, index: number): DemoLayout => {
  const rand = prng(hashSeed(`demo-layout:${width}x${height}/${index}`));
  const angle = rand() * Math.PI * 2;
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const waveFx = (2 + rand() * 10) / width;
  const waveFy = (2 + rand() * 10) / height;
  const wavePhase = rand() * Math.PI * 2;

  const circles = 5 + Math.floor(rand() * 8);
  const scale = Math.min(width, height);
  const cx = new Float64Array(circles);
  const cy = new Float64Array(circles);
  const radius = new Float64Array(circles);
  const alpha = new Float64Array(circles);
  const ring: boolean[] = [];
  for (let c = 0; c < circles; c++) {
    cx[c] = rand() * width;
    cy[c] = rand() * height;
    radius[c] = scale * (0.05 + rand() * 0.3);
    const a = 0.25 + rand() * 0.5;
    ring.push(rand() < 0.3);
    // Flat: the mean over its area of the old radial fall-off, a·(1 − d²/2) (d² from 0.64 to 1 on a ring).
    alpha[c] = a * (ring[c] ? 0.59 : 0.75);
  }

  // The gradient position t = t0 + x·tx on a row, clamped to [0, 1]; the sheen adds sheen·sin(φ) to it,
  // φ = 2π(x·waveFx + y·waveFy) + wavePhase. Sheen: 20 colour steps either way of the nominal span.
  const tx = dx / width;
  const rowT0 = (y: number) => 0.5 + (y / height - 0.5) * dy - 0.5 * dx;
  const sheen = Math.min(0.25, 20 / NOMINAL_SPAN);
  const corners = [
    rowT0(0),
    rowT0(0) + (width - 1) * tx,
    rowT0(height - 1),
    rowT0(height - 1) + (width - 1) * tx,
  ];
  const uMin = Math.max(0, Math.min(...corners)) - sheen;
  const uMax = Math.min(1, Math.max(...corners)) + sheen;

  const wave = waveTables(width, height, Math.PI * 2 * waveFx, Math.PI * 2 * waveFy, wavePhase);
  const { rowSpans, spanX0, spanX1, spanCover, lowU, highU } = coverSpans(
    width,
    height,
    { cx, cy, radius, ring },
    { t0: rowT0(0), ty: dy / height, tx, sheen, wave },
  );
  const covers = lowU.length;
  let seen: number[] = [];
  for (let cover = 1; cover < covers; cover++) if (lowU[cover]! <= highU[cover]!) seen.push(cover);
  if (seen.length > MAX_COVERS) {
    // Too many to give each a band: each span shows its topmost circle only (over the same u range).
    for (let cover = 1; cover < covers; cover++) {
      const key = 1 << (31 - Math.clz32(cover));
      if (key === cover || lowU[cover]! > highU[cover]!) continue;
      lowU[key] = Math.min(lowU[key]!, lowU[cover]!);
      highU[key] = Math.max(highU[key]!, highU[cover]!);
    }
    for (let i = 0; i < spanCover.length; i++)
      if (spanCover[i]) spanCover[i] = 1 << (31 - Math.clz32(spanCover[i]!));
    seen = [];
    for (let c = 0; c < circles; c++) if (lowU[1 << c]! <= highU[1 << c]!) seen.push(1 << c);
  }

  // Palette: `levels` background entries over [uMin, uMax]; a cover seen through circles with total
  // transmittance T over a fraction f of that range needs about f·T·levels entries to step as finely.
  const through = (cover: number) => {
    let t = 1;
    for (let c = 0; c < circles; c++) if (cover & (1 << c)) t *= 1 - alpha[c]!;
    return t;
  };
  const weight = seen.map((key) => ((highU[key]! - lowU[key]!) / (uMax - uMin)) * through(key));
  const bandsFor = (levels: number) => weight.map((w) => Math.max(1, Math.ceil(w * levels)));
  const total = (levels: number) => bandsFor(levels).reduce((sum, k) => sum + k, levels);
  // The most that fit (total grows with levels), and no more than one a colour step.
  let levels = 2;
  for (
    let most = Math.min(256 - seen.length, Math.ceil(NOMINAL_SPAN * (1 + 2 * sheen)) + 1);
    levels < most;
  ) {
    const mid = (levels + most + 1) >> 1;
    if (total(mid) <= 256) levels = mid;
    else most = mid - 1;
  }
  const bands = bandsFor(levels);
  const step = (levels - 1) / (uMax - uMin);

  // The entries' (u, cover), for `paintDemoPng` to colour.
  const entryU = new Float64Array(256);
  const entryCover = new Int32Array(256);
  let entries = 0;
  const addEntry = (u: number, cover: number) => {
    entryU[entries] = u;
    entryCover[entries++] = cover;
  };
  for (let level = 0; level < levels; level++) addEntry(uMin + level / step, 0);
  // Per cover, its band: entry j (from `first`) is the cover's colour at the middle of its share of the
  // background levels lo..hi; a pixel's entry is first + level·scale + offset, dithered and clamped.
  const band: Bands = {
    scale: new Float64Array(covers).fill(1),
    offset: new Float64Array(covers),
    first: new Int32Array(covers),
    last: new Int32Array(covers).fill(levels - 1),
  };
  seen.forEach((key, k) => {
    const lo = Math.max(0, Math.floor((lowU[key]! - uMin) * step));
    const hi = Math.min(levels - 1, Math.ceil((highU[key]! - uMin) * step));
    const size = Math.min(bands[k]!, hi - lo + 1);
    const per = (hi - lo + 1) / size;
    band.first[key] = entries;
    band.last[key] = entries + size - 1;
    band.scale[key] = 1 / per;
    band.offset[key] = entries + (0.5 - lo) / per - 0.5;
    for (let j = 0; j < size; j++) addEntry(uMin + (lo + (j + 0.5) * per - 0.5) / step, key);
  });

  // Second pass: the index rows, each after its filter byte, straight into the deflate input.
  const level0 = new Float64Array(height);
  for (let y = 0; y < height; y++) level0[y] = (rowT0(y) - uMin) * step;
  const raw = Buffer.allocUnsafe((width + 1) * height);
  paintRows(raw, width, height, { rowSpans, spanX0, spanX1, spanCover }, band, {
    level0,
    stepTx: tx * step,
    low: -uMin * step,
    high: (1 - uMin) * step,
    amplitude: sheen * step,
    wave,
  });

  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(3, 9); // colour type: indexed
  return {
    width,
    height,
    index,
    alpha,
    entryU: entryU.slice(0, entries),
    entryCover: entryCover.slice(0, entries),
    head: owned([PNG_SIGNATURE, crcChunk('IHDR', ihdr)]),
    tail: owned([
      crcChunk('IDAT', zlib.deflateSync(raw, { level: 1, strategy: zlib.constants.Z_RLE })),
      crcChunk('IEND', Buffer.alloc(0)),
    ]),
  };
};

/**
 * The PNG of `layout` in the colours of `seed`: a gradient between two colours and a colour per circle,
 * drawn from it; the palette is each entry's gradient colour at its u seen through the circles of its
 * cover, between the layout's chunks. Tens of microseconds (a PRNG, at most 256 entries, a CRC of the
 * palette and a copy of the IDAT), so it runs wherever the layout is.
 */
export const paintDemoPng = (layout: DemoLayout, seed: number): Buffer => {
  const { alpha, entryU, entryCover, head, tail } = layout;
  const rand = prng(seed);
  const hue = rand() * 360;
  const from = hsl(hue, 0.7, 0.35 + rand() * 0.2);
  const to = hsl((hue + 90 + rand() * 180) % 360, 0.75, 0.55 + rand() * 0.2);
  // Per circle, its colour's channels: circle c's red at 3c.
  const colour = new Float64Array(3 * alpha.length);
  for (let c = 0; c < alpha.length; c++) colour.set(hsl(rand() * 360, 0.8, 0.3 + rand() * 0.5), 3 * c);

  const entries = entryU.length;
  const plte = head.length;
  const crcAt = plte + 8 + 3 * entries;
  const png = Buffer.allocUnsafe(crcAt + 4 + tail.length);
  png.set(head);
  png.writeUInt32BE(3 * entries, plte);
  png.write('PLTE', plte + 4, 'latin1');
  for (let e = 0, at = plte + 8; e < entries; e++, at += 3) {
    const u = entryU[e]!;
    const cover = entryCover[e]!;
    let r = from[0] + (to[0] - from[0]) * u;
    let g = from[1] + (to[1] - from[1]) * u;
    let b = from[2] + (to[2] - from[2]) * u;
    // The circles of its cover in order, lowest bit first.
    for (let bits = cover; bits !== 0; bits &= bits - 1) {
      const c = 31 - Math.clz32(bits & -bits);
      const a = alpha[c]!;
      r += (colour[3 * c]! - r) * a;
      g += (colour[3 * c + 1]! - g) * a;
      b += (colour[3 * c + 2]! - b) * a;
    }
    png[at] = Math.min(255, Math.max(0, Math.round(r)));
    png[at + 1] = Math.min(255, Math.max(0, Math.round(g)));
    png[at + 2] = Math.min(255, Math.max(0, Math.round(b)));
  }
  png.writeUInt32BE(zlib.crc32(png.subarray(plte + 4, crcAt)) >>> 0, crcAt);
  png.set(tail, crcAt + 4);
  return png;
};

/** A layout's key in a `DemoLayoutCache`. */
export const demoLayoutKey = (width: number, height: number, index: number): string =>
  `${width}x${height}/${index}`;

const layoutBytes = (layout: DemoLayout): number =>
  layout.head.byteLength +
  layout.tail.byteLength +
  layout.alpha.byteLength +
  layout.entryU.byteLength +
  layout.entryCover.byteLength;

/**
 * Rendered layouts, the least recently used dropped once they hold more than `maxBytes` in all (nearly
 * all of it IDAT: some 35 KB a 512×512 layout, 105 KB a 1024×1024 one, so the default 32 MB holds all
 * the layouts of the five sizes the demo offers, some 24 MB). A layout bigger than the bound on its own
 * is not kept.
 */
export class DemoLayoutCache {
  /** In order of use, the least recent first. */
  private readonly layouts = new Map<string, DemoLayout>();
  private held = 0;

  constructor(readonly maxBytes = 32 * 1024 * 1024) {}

  get size(): number {
    return this.layouts.size;
  }

  /** Bytes held, as `maxBytes` counts them. */
  get bytes(): number {
    return this.held;
  }

  get(width: number, height: number, index: number): DemoLayout | undefined {
    const key = demoLayoutKey(width, height, index);
    const layout = this.layouts.get(key);
    if (layout) {
      this.layouts.delete(key);
      this.layouts.set(key, layout);
    }
    return layout;
  }

  set(layout: DemoLayout): void {
    const key = demoLayoutKey(layout.width, layout.height, layout.index);
    const bytes = layoutBytes(layout);
    this.drop(key);
    if (bytes > this.maxBytes) return;
    for (const oldest of this.layouts.keys()) {
      if (this.held + bytes <= this.maxBytes) break;
      this.drop(oldest);
    }
    this.layouts.set(key, layout);
    this.held += bytes;
  }

  private drop(key: string): void {
    const layout = this.layouts.get(key);
    if (!layout) return;
    this.layouts.delete(key);
    this.held -= layoutBytes(layout);
  }
}

/** This thread's rendered layouts, for `renderDemoPng` (each render thread has its own). */
export const demoLayouts = new DemoLayoutCache();

/** Layout `index` of width×height: from this thread's cache, or rendered here and cached. */
export const demoLayout = (width: number, height: number, index: number): DemoLayout => {
  const cached = demoLayouts.get(width, height, index);
  if (cached) return cached;
  const layout = renderDemoLayout(width, height, index);
  demoLayouts.set(layout);
  return layout;
};

/**
 * A PNG of procedural art: a two-colour gradient, a sine-wave sheen and 5–12 translucent circles and rings.
 * The same seed and size always give the same bytes. The seed picks one of the size's `LAYOUTS` (the
 * geometry, see `renderDemoLayout`: 2–5 ms for 512×512, on this thread if it is not in `demoLayouts`
 * yet) and the colours it is painted in (`paintDemoPng`: tens of microseconds). `DemoRenderPool` gives the
 * same bytes, made on worker threads.
 */
export const renderDemoPng = (width: number, height: number, seed: number): Buffer =>
  paintDemoPng(demoLayout(width, height, demoLayoutIndex(seed)), seed);

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const crcChunk = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body, zlib.crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
};

/** The parts in one array with a buffer of its own (a small Buffer is a view of Node's shared pool). */
const owned = (parts: Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
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
