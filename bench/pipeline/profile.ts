// Where V8 CPU profiles' time went, per job: by package (a node_modules package, a folder of this repo,
// Node's own modules, V8's GC) and by function, self time only, for several runs side by side.
// Used by bench/pipeline's --profile.

/** The parts of V8's `Profiler.Profile` read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** A profile node's package: `kysely`, `@trpc/server`, `server/services`, `node:internal/streams`, `(garbage collector)`. */
function packageOf(compiledUrl: string, functionName: string, root: string): string {
  if (!compiledUrl) return functionName.startsWith('(') ? functionName : '(native)';
  // This repo's code compiled for a benchmark (bench/compiled.ts) counts as its source folder.
  const url = compiledUrl.replace('/node_modules/.cache/bench-build/', '/');
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const local = url.replace(/^file:\/\//, '');
  if (local.startsWith(`${root}/`))
    return local
      .slice(root.length + 1)
      .split('/')
      .slice(0, 2)
      .join('/');
  return url;
}

interface Tally {
  busy: number;
  byPackage: Map<string, number>;
  byFunction: Map<string, number>;
}

/** Self time per package and per function, in ms per job (idle time left out). */
function tally(profiles: CpuProfile[], jobs: number, root: string): Tally {
  const result: Tally = { busy: 0, byPackage: new Map(), byFunction: new Map() };
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    for (let i = 0; i < profile.samples.length; i++) {
      const frame = nodes.get(profile.samples[i]!)!;
      if (frame.functionName === '(idle)') continue;
      // A sample's time is the gap to the next one.
      const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000 / jobs;
      result.busy += ms;
      add(result.byPackage, packageOf(frame.url, frame.functionName, root), ms);
      const where = frame.url ? ` ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}` : '';
      add(result.byFunction, `${frame.functionName || '(anonymous)'}${where}`, ms);
    }
  }
  return result;
}

/** The largest rows (by the first run's ms), each run's ms per job side by side. */
function rows(maps: Map<string, number>[], top: number): string[] {
  return [...maps[0]!]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name]) => `${maps.map((m) => (m.get(name) ?? 0).toFixed(3).padStart(9)).join(' ')}  ${name}`);
}

/** Profiles of one kind of run (the pipeline's rounds, the floor's, ...) and the jobs they ran. */
export interface ProfiledRun {
  label: string;
  profiles: CpuProfile[];
  jobs: number;
}

/** A table of where each run spent the main thread, side by side (ms per job, self time). */
export function summarizeProfile(runs: ProfiledRun[], root: string, top = 25): string {
  const tallies = runs.map((r) => tally(r.profiles, r.jobs, root));
  const header = runs.map((r) => r.label.padStart(9)).join(' ');
  return [
    `${'busy:'.padEnd(12)} ${tallies.map((t) => t.busy.toFixed(3).padStart(9)).join(' ')}`,
    `by package: ${header}`,
    ...rows(
      tallies.map((t) => t.byPackage),
      top,
    ),
    `by function: ${header}`,
    ...rows(
      tallies.map((t) => t.byFunction),
      top,
    ),
  ].join('\n');
}
