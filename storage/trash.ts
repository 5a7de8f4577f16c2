// What a log or a storage deletes on disk: moved out of the way at once, freed in the background. A
// rename, with its folder synced, is durable in one step (a restart no longer sees the segment or the
// queue, and a crash cannot leave a queue with only some of its segments gone); the blocks are freed
// later, a step at a time, each step synced. Freeing a 64 MiB segment in one go (this disk is mounted
// with 'discard') held every fdatasync on the disk for 10–40 ms, on a mirrored queue on all its
// replicas at once, and deleting a queue with a large backlog would stall every other queue.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncDir } from './durable-fs.ts';

/** What one step of freeing a file releases: small enough that its journal commit does not hold up others' writes. */
const FREE_STEP_BYTES = 4 * 1024 * 1024;

export class Trash {
  /** The frees, one at a time; never rejects (a failure is reported, and what it left goes at the next open). */
  private freeing: Promise<void> = Promise.resolve();

  private constructor(private readonly dir: string, private readonly onError: (err: Error) => void) {}

  /** The trash folder `dir`, made if need be; what a crash left in it is freed in the background. */
  static async open(dir: string, onError: (err: Error) => void): Promise<Trash> {
    if ((await mkdir(dir, { recursive: true })) !== undefined) await syncDir(dirname(dir));
    const trash = new Trash(dir, onError);
    trash.later(async () => { for (const entry of await readdir(dir)) await free(join(dir, entry)); });
    return trash;
  }

  /** Removes a file, or a folder and all it holds: durably gone once this resolves. */
  async remove(path: string): Promise<void> {
    const moved = join(this.dir, randomUUID());
    try {
      await rename(path, moved);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const gone = code === 'ENOENT' && (await lstat(path).then(() => false, () => true));
      if (gone) return;
      // The trash folder went (removed by hand), or `path` is on another file system: removed in place.
      if (code !== 'ENOENT' && code !== 'EXDEV') throw err;
      await rm(path, { recursive: true, force: true });
      await syncDir(dirname(path));
      return;
    }
    await syncDir(dirname(path));
    this.later(() => free(moved));
  }

  /** Resolves once everything removed so far is freed (or its free failed). */
  drained(): Promise<void> {
    return this.freeing;
  }

  private later(task: () => Promise<void>): void {
    this.freeing = this.freeing.then(task).catch((err: unknown) => {
      this.onError(new Error(`freeing deleted files in ${this.dir} failed (they stay there until the next start): ${(err as Error)?.message ?? err}`, { cause: err }));
    });
  }
}

/** Shrinks each file a step at a time, each step synced, then unlinks it; a symlink goes without following it. */
async function free(path: string): Promise<void> {
  const stats = await lstat(path).catch(ifGone(undefined));
  if (!stats) return;
  if (stats.isDirectory()) {
    for (const entry of await readdir(path).catch(ifGone([]))) await free(join(path, entry));
    await rmdir(path).catch(ifGone(undefined));
    return;
  }
  if (stats.isFile() && stats.size > 0) {
    const handle = await open(path, constants.O_RDWR | constants.O_NOFOLLOW).catch(ifGone(undefined));
    if (!handle) return;
    try {
      for (let size = stats.size; size > 0;) {
        size = Math.max(0, size - FREE_STEP_BYTES);
        await handle.truncate(size);
        await handle.datasync();
      }
    } finally {
      await handle.close();
    }
  }
  await unlink(path).catch(ifGone(undefined));
}

/** A catch that takes ENOENT (freed already, by a free that ran before) as done. */
function ifGone<T>(value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}
