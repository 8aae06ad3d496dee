// Demo render benchmark: renderDemoPng's time and PNG size, on this thread, with random seeds.
// Run: npx tsx bench/render/run.ts [--renders=50] [--module=path/to/demo-media.ts] [--against=path]
// First the first N renders of this fresh process at 512×512 (JIT warm-up included), then per size the
// mean and median of N renders after 20 warm-up renders, and the mean PNG size. With --against, a second
// copy of the module (say the file at an older commit, copied beside the current one so its imports
// resolve) renders each seed right after the first, so both see the same load.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

type Render = (width: number, height: number, seed: number) => Buffer;

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const renders = Number(arg('renders', '50'));
const paths = [
  arg('module', path.join(import.meta.dirname, '../../server/providers/demo-media.ts')),
  arg('against', ''),
]
  .filter(Boolean)
  .map((p) => path.resolve(p));
const modules: Array<{ name: string; render: Render }> = [];
for (const p of paths) {
  const { renderDemoPng } = (await import(pathToFileURL(p).href)) as { renderDemoPng: Render };
  modules.push({ name: path.relative(process.cwd(), p), render: renderDemoPng });
}
const seed = () => Math.floor(Math.random() * 2 ** 32);

const measure = (label: string, width: number, height: number) => {
  const times = modules.map(() => [] as number[]);
  const bytes = modules.map(() => 0);
  for (let i = 0; i < renders; i++) {
    const s = seed();
    modules.forEach((m, k) => {
      const start = performance.now();
      bytes[k]! += m.render(width, height, s).length;
      times[k]!.push(performance.now() - start);
    });
  }
  modules.forEach((m, k) => {
    const sorted = times[k]!.sort((a, b) => a - b);
    const mean = sorted.reduce((sum, t) => sum + t, 0) / renders;
    console.log(
      `${label.padEnd(28)} ${m.name.padEnd(40)} mean ${mean.toFixed(2)} ms, ` +
        `median ${sorted[renders >> 1]!.toFixed(2)} ms, ${Math.round(bytes[k]! / renders)} bytes`,
    );
  });
};

console.log(`load average ${os.loadavg()[0]!.toFixed(2)}`);
measure(`512x512, first ${renders} renders`, 512, 512);
for (const [width, height] of [
  [512, 512],
  [768, 512],
  [1024, 1024],
  [2048, 2048],
] as const) {
  for (let i = 0; i < 20; i++) for (const m of modules) m.render(width, height, seed());
  measure(`${width}x${height}`, width, height);
}
