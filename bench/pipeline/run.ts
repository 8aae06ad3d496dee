// Pipeline benchmark (bench/pipeline/measure.ts): ai.generateImage over HTTP next to a floor doing the
// same DB transactions plus one upload. It measures the code as the product runs it, compiled by tsc;
// `--source` runs measure.ts from the TypeScript sources under tsx instead (slower: see bench/compiled.ts).
// Run: npx tsx bench/pipeline/run.ts [--source] [measure.ts's options]
import { runCompiled } from '../compiled.ts';

const args = process.argv.slice(2);
if (args.includes('--source')) await import('./measure.ts');
else runCompiled('bench/pipeline/measure.ts', args);
