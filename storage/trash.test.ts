import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Trash } from './trash.ts';
import { withTempDir } from './test-support.ts';

const exists = (path: string) => stat(path).then(() => true, () => false);

describe('Trash', () => {
  it('removes a folder at once and frees what it held in the background; a symlink in it goes, its target stays', async () => {
    await withTempDir(async (dir) => {
      const errors: Error[] = [];
      const trash = await Trash.open(join(dir, 'trash'), (e) => errors.push(e));
      const queue = join(dir, 'queues', 'q');
      await mkdir(join(queue, 'sub'), { recursive: true });
      await writeFile(join(queue, '1.seg'), Buffer.alloc(9 * 1024 * 1024, 1)); // three steps of freeing
      await writeFile(join(queue, 'sub', 'empty'), '');
      await writeFile(join(dir, 'outside'), 'keep me');
      await symlink(join(dir, 'outside'), join(queue, 'link'));
      await trash.remove(queue);
      assert.equal(await exists(queue), false, 'gone when remove() resolves');
      await trash.drained();
      assert.deepEqual(await readdir(join(dir, 'trash')), []);
      assert.equal(await readFile(join(dir, 'outside'), 'utf8'), 'keep me');
      assert.deepEqual(errors, []);
    });
  });

  it('takes a path that is not there as removed, and removes in place when its own folder was deleted by hand', async () => {
    await withTempDir(async (dir) => {
      const trash = await Trash.open(join(dir, 'trash'), (e) => assert.fail(e));
      await trash.remove(join(dir, 'never-was'));
      await rm(join(dir, 'trash'), { recursive: true });
      await writeFile(join(dir, 'segment'), 'x');
      await trash.remove(join(dir, 'segment'));
      assert.equal(await exists(join(dir, 'segment')), false);
    });
  });

  it('frees at open what a crash left in it', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'trash', 'a-queue'), { recursive: true });
      await writeFile(join(dir, 'trash', 'a-queue', '1.seg'), Buffer.alloc(1024, 1));
      await writeFile(join(dir, 'trash', 'a-segment'), Buffer.alloc(1024, 1));
      const trash = await Trash.open(join(dir, 'trash'), (e) => assert.fail(e));
      await trash.drained();
      assert.deepEqual(await readdir(join(dir, 'trash')), []);
    });
  });
});
