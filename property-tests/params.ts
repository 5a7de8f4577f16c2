// Every property run prints its seed, so any failure can be replayed: WARREN_SEED=<seed> npm test.
// WARREN_RUNS scales the budget (CI keeps it small; run longer by hand).
import type { Parameters } from 'fast-check';

export function propertyParams<T>(name: string, defaultRuns: number): Parameters<T> {
  const seed = process.env.WARREN_SEED ? Number(process.env.WARREN_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const numRuns = process.env.WARREN_RUNS ? Number(process.env.WARREN_RUNS) : defaultRuns;
  console.log(`property '${name}': seed=${seed} runs=${numRuns} (replay: WARREN_SEED=${seed})`);
  return { seed, numRuns, includeErrorInReport: true };
}
