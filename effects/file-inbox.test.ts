// The file inbox through a real node with a real file, and what its file keeps across a close: the
// recorded ids, but not a torn last line.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StorageError } from '../node/errors.ts';
import { fileStore } from './file-inbox.ts';
import { storeProperty } from './testing.ts';

describe('exactlyOnce with the file inbox', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'warren-file-inbox-'));
  after(() => rm(dir, { recursive: true, force: true }));
  let files = 0;
  const fresh = () => path.join(dir, `inbox-${files++}.log`);

  it('applies each effect once, twice only after a crash between the effect and its record', () => storeProperty<void>({
    name: 'file inbox',
    runs: 15,
    transactional: false,
    async open() {
      const store = fileStore(fresh());
      const committed: string[] = [];
      return { store, effect: async (m) => { committed.push(m.text()); }, committed, close: () => store.close() };
    },
  }));

  it('cuts off a torn last line on open and keeps the recorded ids across a reopen', async () => {
    const file = fresh();
    const effects: string[] = [];
    const effect = (id: string) => async () => { effects.push(id); };
    const first = fileStore(file);
    assert.equal(await first.run({ queue: 'q', id: 'a', deliveryCount: 1 }, effect('a')), 'applied');
    await first.close();
    // A crash in the middle of appending b's record: its id was never recorded.
    await appendFile(file, '"q/b');

    const reopened = fileStore(file);
    try {
      assert.equal(await reopened.run({ queue: 'q', id: 'a', deliveryCount: 2 }, effect('a')), 'duplicate');
      assert.equal(await readFile(file, 'utf8'), '"q/a"\n', 'the torn tail is gone');
      assert.equal(await reopened.run({ queue: 'q', id: 'b', deliveryCount: 2 }, effect('b')), 'applied');
      assert.equal(await readFile(file, 'utf8'), '"q/a"\n"q/b"\n');
    } finally {
      await reopened.close();
    }
    assert.deepEqual(effects, ['a', 'b'], 'no effect for the duplicate');
  });

  it('refuses to open a file with a damaged whole line rather than forget its ids', async () => {
    const file = fresh();
    await writeFile(file, '"q/a"\nnot json\n');
    const inbox = fileStore(file);
    let ran = false;
    await assert.rejects(inbox.run({ queue: 'q', id: 'a', deliveryCount: 1 }, async () => { ran = true; }), StorageError);
    assert.equal(ran, false);
    await inbox.close();
  });
});
