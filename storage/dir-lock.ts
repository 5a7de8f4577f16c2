// One process per data dir: two nodes appending to the same logs would corrupt each other. The lock
// is a file naming its owner: its pid and, where the system tells (Linux's /proc), the process's start
// time and the boot it ran in, because a pid alone is reused: a node restarted in a container after a
// crash often gets the very pid its dead self wrote, and any pid may belong to another process after a
// while. A lock whose owner is gone (killed with SIGKILL, say) is stale and is taken over. The file is
// written whole before it takes the lock's name (a hard link, which fails if the name is taken), so no
// one ever reads a lock without its owner.
import { randomUUID } from 'node:crypto';
import { link, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../node/errors.ts';

export interface DirLock {
  release(): Promise<void>;
}

/** `identify`: what the system tells of a process (read from /proc where there is one). */
export async function lockDir(dir: string, identify: (pid: number) => Promise<Owner> = identity): Promise<DirLock> {
  const path = join(dir, 'LOCK');
  const me = await identify(process.pid);
  const draft = join(dir, `LOCK.${randomUUID()}`);
  await writeFile(draft, format(me)).catch((err: unknown) => { throw new StorageError(`cannot lock data dir '${dir}'`, { cause: err }); });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await take(draft, path, me);
        return { release: () => unlink(path).catch(() => {}) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot lock data dir '${dir}'`, { cause: err });
        const owner = parse(await readFile(path, 'utf8').catch(() => ''));
        if (owner && await holds(owner, me, identify)) throw new StorageError(`data dir '${dir}' is in use by process ${owner.pid}`);
        await unlink(path).catch(() => {});
      }
    }
    throw new StorageError(`cannot lock data dir '${dir}': another process keeps taking it`);
  } finally {
    await unlink(draft).catch(() => {});
  }
}

/** Gives the written draft the lock's name; where hard links are not to be had (some network or FUSE file systems), creates it exclusively. */
async function take(draft: string, path: string, me: Owner): Promise<void> {
  try {
    await link(draft, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(format(me));
    } finally {
      await handle.close();
    }
  }
}

export interface Owner {
  readonly pid: number;
  /** When the process started, in clock ticks after boot; with `boot`, undefined where /proc is not. */
  readonly started?: string;
  readonly boot?: string;
}

const format = (o: Owner): string => [o.pid, o.started, o.boot].filter((x) => x !== undefined).join(' ');

function parse(text: string): Owner | undefined {
  const [pid, started, boot] = text.trim().split(' ');
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return started && boot ? { pid: n, started, boot } : { pid: n };
}

/** Whether the process the lock names (`me`: this one) still runs. */
async function holds(owner: Owner, me: Owner, identify: (pid: number) => Promise<Owner>): Promise<boolean> {
  if (!alive(owner.pid)) return false;
  const now = await identify(owner.pid);
  // The pid alone, naming this process: written by an older version that ran with this pid before (a
  // stale lock) where this process knows itself better; where it does not (no /proc), by itself.
  if (owner.started === undefined) return owner.pid !== process.pid || me.started === undefined;
  // Another boot, or another process with the pid: a reuse. Without /proc, the pid is all there is.
  return now.started === undefined || (now.started === owner.started && now.boot === owner.boot);
}

async function identity(pid: number): Promise<Owner> {
  try {
    const [stat, boot] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile('/proc/sys/kernel/random/boot_id', 'utf8')]);
    // The fields after the command name, which is in parentheses and may hold anything: the start time is the 22nd field.
    const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return started ? { pid, started, boot: boot.trim() } : { pid };
  } catch {
    return { pid };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
