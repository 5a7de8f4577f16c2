// Helpers for tests that drive a node through the public API.
import { Warren } from '../index.ts';

export async function memoryNode(): Promise<Warren> {
  return Warren.start({ dataDir: ':memory:' });
}

/** Polls until `cond` holds (it may ask asynchronously); fails after `limitMs` with `what` (a bound, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const texts = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
