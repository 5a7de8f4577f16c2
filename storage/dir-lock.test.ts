// The data dir lock, where the system tells a process's start time and boot (Linux's /proc) and where
// it tells only pids: a lock held by a running process is kept either way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockDir } from './dir-lock.ts';
import { withTempDir } from './test-support.ts';

describe('the data dir lock', () => {
  it('without /proc, a second lock in the same process is refused, and a released one taken again', async () => {
    await withTempDir(async (dir) => {
      const pidsOnly = async (pid: number) => ({ pid });
      const first = await lockDir(dir, pidsOnly);
      assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), String(process.pid));
      await assert.rejects(lockDir(dir, pidsOnly), /in use by process/);
      await first.release();
      const second = await lockDir(dir, pidsOnly);
      await second.release();
    });
  });

  it('with /proc, a lock naming this pid with another start time is stale; with this one, held', async () => {
    await withTempDir(async (dir) => {
      const me = { pid: process.pid, started: '100', boot: 'b' };
      const identify = async (pid: number) => (pid === process.pid ? me : { pid });
      await writeFile(join(dir, 'LOCK'), `${process.pid} 99 b`);
      const taken = await lockDir(dir, identify);
      assert.equal(await readFile(join(dir, 'LOCK'), 'utf8'), `${process.pid} 100 b`);
      await assert.rejects(lockDir(dir, identify), /in use by process/);
      await taken.release();
    });
  });
});
