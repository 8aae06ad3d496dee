// Demo render benchmark: the two parts of a demo PNG (see server/providers/demo-media.ts), on this thread.
// Cold: rendering a layout, `renderDemoLayout` (what a render thread does once per layout of a size, of
// LAYOUTS a size). Warm: painting a rendered layout in a random seed's colours, `paintDemoPng` (what
// every PNG costs once its layout is cached); and the mean PNG size.
// Run: npx tsx bench/render/run.ts [--renders=50] [--module=path/to/demo-media.ts] [--against=path]
// First the first N layouts and paints of this fresh process at 512×512 (JIT warm-up included), then per
// size the mean and median of N of each after 20 warm-up ones. With --against, a second module's
// `renderDemoPng` (say a renderer from before layouts: the file at an older commit, copied beside the
// current one so that its imports resolve) renders a random seed right after each layout, so both see
// the same load.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { DemoLayout } from '../../server/providers/demo-media.ts';

interface Renderer {
  LAYOUTS: number;
  renderDemoLayout: (width: number, height: number, index: number) => DemoLayout;
  paintDemoPng: (layout: DemoLayout, seed: number) => Buffer;
}
type RenderPng = (width: number, height: number, seed: number) => Buffer;

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const renders = Number(arg('renders', '50'));
const modulePath = path.resolve(
  arg('module', path.join(import.meta.dirname, '../../server/providers/demo-media.ts')),
);
const againstPath = arg('against', '') && path.resolve(arg('against', ''));
const { LAYOUTS, renderDemoLayout, paintDemoPng } = (await import(
  pathToFileURL(modulePath).href
)) as Renderer;
const against = againstPath
  ? ((await import(pathToFileURL(againstPath).href)) as { renderDemoPng: RenderPng }).renderDemoPng
  : undefined;
const seed = () => Math.floor(Math.random() * 2 ** 32);

const summary = (times: number[], digits: number) => {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, t) => sum + t, 0) / sorted.length;
  return `mean ${mean.toFixed(digits)} ms, median ${sorted[sorted.length >> 1]!.toFixed(digits)} ms`;
};

const measure = (label: string, width: number, height: number, warmUp: number) => {
  const layouts: DemoLayout[] = [];
  const cold: number[] = [];
  const old: number[] = [];
  let oldBytes = 0;
  for (let i = 0; i < warmUp + renders; i++) {
    let start = performance.now();
    layouts.push(renderDemoLayout(width, height, i % LAYOUTS));
    if (i >= warmUp) cold.push(performance.now() - start);
    if (!against) continue;
    start = performance.now();
    const png = against(width, height, seed());
    if (i < warmUp) continue;
    old.push(performance.now() - start);
    oldBytes += png.length;
  }
  const warm: number[] = [];
  let bytes = 0;
  for (let i = 0; i < warmUp + renders; i++) {
    const start = performance.now();
    const png = paintDemoPng(layouts[i % layouts.length]!, seed());
    if (i < warmUp) continue;
    warm.push(performance.now() - start);
    bytes += png.length;
  }
  console.log(
    `${label.padEnd(24)} layout (cold) ${summary(cold, 2)} | paint (warm) ${summary(warm, 3)} | ` +
      `${Math.round(bytes / renders)} bytes`,
  );
  if (against) {
    console.log(
      `${''.padEnd(24)} ${path.relative(process.cwd(), againstPath)} renderDemoPng ${summary(old, 2)} | ` +
        `${Math.round(oldBytes / renders)} bytes`,
    );
  }
};

console.log(`load average ${os.loadavg()[0]!.toFixed(2)}, ${path.relative(process.cwd(), modulePath)}`);
measure(`512x512, first ${renders}`, 512, 512, 0);
for (const [width, height] of [
  [512, 512],
  [768, 512],
  [1024, 1024],
  [2048, 2048],
] as const) {
  measure(`${width}x${height}`, width, height, 20);
}
