// Child processes run the same build as the process that starts them: the compiled JavaScript in
// dist/ (`npm run bench`, as a service would run the published package), or the TypeScript sources
// through tsx (`npx tsx bench/...`, while developing).
import { fileURLToPath } from 'node:url';

const fromSource = import.meta.url.endsWith('.ts');
// Resolved here, so that a child finds tsx whatever its working directory.
const TSX = fromSource ? import.meta.resolve('tsx') : undefined;

/** The repository: where BENCHMARKS.md and package.json are, from either build. */
export const ROOT = fileURLToPath(new URL(fromSource ? '..' : '../..', import.meta.url));

/** Where children write CPU profiles (`node --cpu-prof`), when BENCH_CPU_PROF names a folder. */
const PROFILES = process.env['BENCH_CPU_PROF'];

/** Node's flags for a child: tsx when running from source, and the profiler when asked for. */
export const childArgs: readonly string[] = [...(TSX ? ['--import', TSX] : []), ...(PROFILES ? ['--cpu-prof', '--cpu-prof-dir', PROFILES] : [])];

/** The file of `source` (a .ts path relative to `base`, an import.meta.url) in this build. */
export function entryPoint(source: string, base: string): string {
  return fileURLToPath(new URL(fromSource ? source : source.replace(/\.ts$/, '.js'), base));
}
