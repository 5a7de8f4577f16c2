// Helpers for tests that drive a node through the public API.
import { open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
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

/** Overwrites bytes of the record whose body holds `marker`, in a queue's folder, as bit rot would. */
export async function damageRecord(queueDir: string, marker: string): Promise<void> {
  for (const file of await readdir(queueDir)) {
    const at = (await readFile(path.join(queueDir, file))).indexOf(marker);
    if (at < 0) continue;
    const handle = await open(path.join(queueDir, file), 'r+');
    await handle.write(Buffer.alloc(64, 0xff), 0, 64, at + 1000);
    await handle.close();
    return;
  }
  throw new Error(`no record holds '${marker}'`);
}
