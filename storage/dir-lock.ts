// One process per data dir: two nodes appending to the same logs would corrupt each other. The lock
// is a file holding the owner's pid, created exclusively; a lock whose process is gone (killed with
// SIGKILL, say) is stale and is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../node/errors.ts';

export interface DirLock {
  release(): Promise<void>;
}

export async function lockDir(dir: string): Promise<DirLock> {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => unlink(path).catch(() => {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot lock data dir '${dir}'`, { cause: err });
      const owner = Number(await readFile(path, 'utf8').catch(() => ''));
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) throw new StorageError(`data dir '${dir}' is in use by process ${owner}`);
      await unlink(path).catch(() => {});
    }
  }
  throw new StorageError(`cannot lock data dir '${dir}': another process keeps taking it`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
