import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { asQueue, asSeq } from '../node/ids.ts';
import { StorageError } from '../node/errors.ts';
import { until } from '../node/testing.ts';
import { FileQueueLog } from './file-log.ts';
import { FileStorage, queueFolder, queueOfFolder } from './file-storage.ts';
import type { Trash } from './trash.ts';
import { frameRecords } from './record-codec.ts';
import type { LogRecord, QueueLog, RecoveredQueue, RemoveReason, TopologySnapshot } from './storage.ts';
import { QUEUE, appendAll, appendsArbitrary, bodiesBySeq, enqueue, fcParams, memoryRecovery, withTempDir } from './test-support.ts';

const clean = { droppedRecords: 0, droppedBytes: 0, problems: [] };

/**
 * The file log recovers what MemoryStorage recovers. Compaction may only forget enqueues of removed
 * messages: recentIds then still name every live message's id, and each entry is a real enqueue.
 */
function assertSameRecovery(actual: RecoveredQueue, expected: RecoveredQueue, compactedFrom: readonly LogRecord[] | undefined): void {
  assert.deepStrictEqual(actual.report, clean);
  assert.deepStrictEqual([...actual.messages], [...expected.messages]);
  assert.equal(actual.nextSeq, expected.nextSeq);
  // Compaction keeps the last record: a mirror's last mark tells where it stands, or nothing does.
  assert.deepStrictEqual(actual.mark, expected.mark);
  if (!compactedFrom) {
    assert.deepStrictEqual(actual.recentIds, expected.recentIds);
    return;
  }
  const enqueued = new Set(compactedFrom.flatMap((r) => (r.type === 'enqueue' ? [`${r.meta.seq} ${r.meta.id} ${r.meta.enqueuedAt}`] : [])));
  for (const r of actual.recentIds) assert.ok(enqueued.has(`${r.seq} ${r.id} ${r.at}`), `recentIds entry ${r.seq} was enqueued`);
  const order = actual.recentIds.map((r) => r.seq);
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'oldest first');
  const remembered = new Set(actual.recentIds.map((r) => r.seq));
  for (const m of [...expected.messages]) assert.ok(remembered.has(m.seq), `recentIds keep the id of live seq ${m.seq}`);
}

const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => asSeq(from + i));

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'queues', queueFolder(QUEUE)))).filter((f) => f.endsWith('.seg'));
}

describe('FileStorage', () => {
  it('recovers what MemoryStorage recovers, across reopen, rotation and compaction', async () => {
    const segmentSizes = fc.constantFrom(64, 256, 2048, 64 * 1024 * 1024);
    const run = fc.asyncProperty(appendsArbitrary(60), segmentSizes, fc.constantFrom('always' as const, 'batch' as const), fc.nat(), async (appends, segmentBytes, fsync, at) => {
      const split = at % (appends.length + 1);
      const rotates = segmentBytes < 64 * 1024 * 1024;
      await withTempDir(async (dir) => {
        const reopen = async () => {
          const storage = await FileStorage.open(dir, { fsync, segmentBytes });
          const log = await storage.openQueue(QUEUE);
          return { storage, log, recovered: await log.recover() };
        };
        const first = await reopen();
        assertSameRecovery(first.recovered, await memoryRecovery([]), undefined);
        await appendAll(first.log, appends.slice(0, split));
        await first.storage.close();

        const before = appends.slice(0, split).flatMap((a) => a.records);
        const second = await reopen();
        assertSameRecovery(second.recovered, await memoryRecovery(before), rotates ? before : undefined);
        await appendAll(second.log, appends.slice(split));
        await second.storage.close();

        const all = appends.flatMap((a) => a.records);
        const third = await reopen();
        assertSameRecovery(third.recovered, await memoryRecovery(all), rotates ? all : undefined);
        const bodies = bodiesBySeq(all);
        for (const m of [...third.recovered.messages]) assert.deepEqual(Buffer.from((await third.log.read([m.seq]))[0]!.body), Buffer.from(bodies.get(m.seq)!));
        await third.storage.close();
      });
    });
    await fc.assert(run, fcParams('file log recovers as the memory log', 40));
  });

  it("group-commits: 256 appends in flight cost one write; 'always' writes O_DSYNC, 'batch' syncs later", async () => {
    await withTempDir((dir) => countingFileCalls(dir, async (calls) => {
      for (const fsync of ['always', 'batch'] as const) {
        const storage = await FileStorage.open(join(dir, fsync), { fsync });
        const log = await storage.openQueue(QUEUE);
        await log.recover();
        Object.assign(calls, { write: 0, datasync: 0 });
        await Promise.all(seqs(1, 256).map((seq) => log.append([enqueue(seq, 'x'.repeat(1024))])));
        assert.deepEqual({ write: calls.write, datasync: calls.datasync }, { write: 1, datasync: 0 }, fsync);
        // The kernel's own account of the open file: O_DSYNC makes each write return durable.
        const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(await readFile(`/proc/self/fdinfo/${calls.fd}`, 'utf8'))![1]!, 8);
        assert.equal((flags & constants.O_DSYNC) !== 0, fsync === 'always', `${fsync}: O_DSYNC`);
        await storage.close();
        assert.equal(calls.datasync, fsync === 'always' ? 0 : 1, `${fsync}: synced by close at the latest`);
      }
    }));
  });

  it('a deferrable append rides with the next one that is not, or is written on its own a little later', async () => {
    await withTempDir((dir) => countingFileCalls(dir, async (calls) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      await log.append([enqueue(1), enqueue(2)]);
      calls.write = 0;
      const acked = log.append([{ type: 'remove', seqs: [asSeq(1)], reason: 'ack' }], { deferrable: true });
      await Promise.all([acked, log.append([enqueue(3)])]);
      assert.equal(calls.write, 1, 'one write for both');
      await log.append([{ type: 'remove', seqs: [asSeq(2)], reason: 'ack' }], { deferrable: true });
      assert.equal(calls.write, 2, 'alone, it is written all the same');
      await storage.close();
      const reopened = await FileStorage.open(dir, { fsync: 'always' });
      const recovered = await (await reopened.openQueue(QUEUE)).recover();
      assert.deepEqual([...recovered.messages].map((m) => m.seq), [3]);
      await reopened.close();
    }));
  });

  it('a deferrable append made while a write is under way is written whole, however the group commit goes idle', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      for (let seq = 1; seq <= 50; seq++) {
        const stored = log.append([enqueue(seq)]);
        // The enqueue's write has started: the settlement waits in the next group, deferred.
        await new Promise((r) => setImmediate(r));
        await Promise.all([stored, log.append([{ type: 'remove', seqs: [asSeq(seq)], reason: 'ack' }], { deferrable: true })]);
      }
      await log.append([enqueue(51)]);
      assert.equal(Buffer.from((await log.read([asSeq(51)]))[0]!.body).toString(), 'body 51');
      await storage.close();
      const again = await FileStorage.open(dir, { fsync: 'always' });
      const recovered = await (await again.openQueue(QUEUE)).recover();
      assert.deepEqual(recovered.report, clean);
      assert.deepEqual([...recovered.messages].map((m) => m.seq), [51]);
      await again.close();
    });
  });

  it('reads many messages at once, neighbours together, across segments and around gaps', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 600 });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      await log.append(seqs(1, 40).map((seq) => enqueue(seq, `body ${seq}`)));
      await log.append([{ type: 'remove', seqs: [asSeq(5), asSeq(6), asSeq(21)], reason: 'ack' }]);
      const wanted = seqs(1, 40).filter((s) => ![5, 6, 21].includes(s));
      const asked = [...wanted.slice(20), ...wanted.slice(0, 20)];
      const together = await log.read(asked);
      assert.deepEqual(together.map((m) => m.meta.seq), asked);
      assert.deepEqual(together.map((m) => Buffer.from(m.body).toString()), asked.map((s) => `body ${s}`));
      await assert.rejects(log.read([asSeq(4), asSeq(5)]), StorageError, 'a removed one fails the read');
      await storage.close();
    });
  });

  it('writes records framed elsewhere as they are (a mirror stores its leader\'s frames), and reads them back', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 600 });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      const framedAppend = (records: LogRecord[]) => log.append(records, { framed: frameRecords(records) });
      await framedAppend(seqs(1, 10).map((seq) => enqueue(seq, `body ${seq}`)));
      await log.append(seqs(11, 20).map((seq) => enqueue(seq, `body ${seq}`)));
      await framedAppend([{ type: 'remove', seqs: [asSeq(2), asSeq(12)], reason: 'ack' }]);
      const records = [enqueue(21)];
      await assert.rejects(log.append(records, { framed: { ...frameRecords(records), lengths: [] } }), StorageError, 'frames that do not match the records');
      await assert.rejects(log.append(records, { framed: { ...frameRecords(records), lengths: [1] } }), StorageError, 'lengths that do not add up to the bytes');
      await framedAppend(records);
      const live = seqs(1, 21).filter((s) => s !== 2 && s !== 12);
      assert.deepEqual((await log.read(live)).map((m) => Buffer.from(m.body).toString()), live.map((s) => `body ${s}`));
      await storage.close();
      const again = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 600 });
      assert.deepEqual([...(await (await again.openQueue(QUEUE)).recover()).messages].map((m) => m.seq), live);
      await again.close();
    });
  });

  it('deletes sealed segments whose messages are all removed, and keeps what a restart needs', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 200 });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      for (let seq = 1; seq <= 30; seq++) await log.append([enqueue(seq, 'x'.repeat(100))]);
      const full = (await segmentFiles(dir)).length;
      assert.ok(full >= 15, `one segment per ~200 bytes, got ${full}`);
      await log.append([{ type: 'delivered', seqs: [asSeq(7)] }]);
      await log.append([{ type: 'remove', seqs: seqs(1, 29).filter((s) => s !== 7), reason: 'ack' }]);
      // The deletions run in the background, while the log goes on.
      await until(async () => (await segmentFiles(dir)).length <= 4, `segments of removed messages deleted (${full} before)`);
      assert.equal((await log.read([asSeq(7)]))[0]!.body.length, 100);
      await storage.close();
      const folder = join(dir, 'queues', queueFolder(QUEUE));
      assert.deepEqual((await readdir(folder)).filter((f) => !f.endsWith('.seg')), ['closed-cleanly'], 'nothing left of the deleted segments');

      // A crash while a deleted segment was still being freed leaves it in the trash, for the next open to free.
      await writeFile(join(dir, 'trash', 'left-by-a-crash'), frameRecords([enqueue(2, 'back from the dead')]).bytes);
      const again = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 200 });
      const recovered = await again.openQueue(QUEUE).then((l) => l.recover());
      assert.deepEqual([...recovered.messages].map((m) => [m.seq, m.deliveryCount]), [[7, 1], [30, 0]]);
      assert.equal(recovered.nextSeq, 31);
      assert.deepEqual(recovered.report, clean);
      await again.close();
      assert.deepEqual(await readdir(join(dir, 'trash')), [], 'freed in the background, by the time the storage closed');
    });
  });

  it('a segment that cannot be deleted stays, reported once, until the queue opens again: the log goes on', async () => {
    await withTempDir(async (dir) => {
      const errors: Error[] = [];
      const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 200, onError: (e) => errors.push(e) });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      for (let seq = 1; seq <= 30; seq++) await log.append([enqueue(seq, 'x'.repeat(100))]);
      const full = (await segmentFiles(dir)).length;
      // Nothing can be moved to the trash: a file stands in its place.
      await rm(join(dir, 'trash'), { recursive: true });
      await writeFile(join(dir, 'trash'), '');
      await log.append([{ type: 'remove', seqs: seqs(1, 29), reason: 'ack' }]);
      await until(() => errors.length > 0, 'the failed deletion reported');
      assert.match(errors[0]!.message, /deleting an old segment failed; old segments stay until the queue opens again/);
      await log.append([enqueue(31)]);
      assert.deepEqual((await log.read([asSeq(30), asSeq(31)])).map((m) => m.meta.seq), [30, 31]);
      await storage.close();
      assert.equal((await segmentFiles(dir)).length, full + 1, 'every segment kept');

      // The trash works again: the next open deletes what could not be deleted.
      await rm(join(dir, 'trash'));
      const again = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 200 });
      const recovered = await again.openQueue(QUEUE).then((l) => l.recover());
      assert.deepEqual([...recovered.messages].map((m) => m.seq), [30, 31]);
      await until(async () => (await segmentFiles(dir)).length <= 4, 'the segments of removed messages deleted');
      await again.close();
    });
  });

  it('after a failed deletion, no segment chosen since is deleted: one may hold the removes of the messages of the one that stays', async () => {
    await withTempDir(async (dir) => {
      let fail!: () => void;
      const failing = new Promise<void>((r) => (fail = r));
      let moves = 0;
      const errors: Error[] = [];
      // The first deletion waits, then fails; any later one would succeed.
      const trash = { remove: async (path: string) => (moves++ === 0 ? failing.then(() => { throw new Error('EIO'); }) : rm(path, { force: true })) } as unknown as Trash;
      const opts = { fsync: 'always' as const, segmentBytes: 250, trash, report: (e: Error) => errors.push(e) };
      const log = new FileQueueLog(QUEUE, dir, opts, () => {}, async () => {});
      await log.recover();
      await log.append([enqueue(1, 'x'.repeat(150))]);
      await log.append([enqueue(2, 'x'.repeat(150))]);
      await log.append([{ type: 'remove', reason: 'ack', seqs: [asSeq(1)] }]); // segment 1 goes; its deletion waits
      await log.append([enqueue(3, 'x'.repeat(150))]);
      await log.append([{ type: 'remove', reason: 'ack', seqs: [asSeq(2)] }]); // segment 2, which holds the remove of 1, goes next
      // The compactions that follow a write run in the background: time for them to choose segment 2,
      // and, once the first deletion failed, to do what they do next.
      await new Promise((r) => setTimeout(r, 100));
      fail();
      await until(() => errors.length > 0, 'the failed deletion reported');
      await new Promise((r) => setTimeout(r, 100));
      // A crash here; the next open, where nothing can be deleted, sees what is on disk.
      const stuck = { remove: async () => { throw new Error('EIO'); } } as unknown as Trash;
      const again = new FileQueueLog(QUEUE, dir, { ...opts, trash: stuck }, () => {}, async () => {});
      assert.deepEqual([...(await again.recover()).messages].map((m) => m.seq), [3], 'no acked message back');
      await again.close();
      await log.close();
      assert.equal(errors.length, 2, 'one report a failed compaction');
    });
  });

  it('makes the next segment ahead; after a crash an empty one goes and the torn tail before it is cut', async () => {
    await withTempDir(async (dir) => {
      const folder = join(dir, 'queues', queueFolder(QUEUE));
      const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 600 });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      for (let seq = 1; seq <= 4; seq++) await log.append([enqueue(seq, 'x'.repeat(100))]);
      const files = await segmentFiles(dir);
      const last = files.at(-1)!;
      assert.equal((await stat(join(folder, last))).size, 0, 'past half its size, the active segment has a successor waiting');
      await storage.close();
      assert.deepEqual(await segmentFiles(dir), files.slice(0, -1), 'a clean close removes it');

      // What a crash leaves: that empty successor, and a torn write at the end of the segment before it.
      const written = join(folder, files.at(-2)!);
      const handle = await open(written, 'a');
      await handle.write(Buffer.from('torn'));
      await handle.close();
      await (await open(join(folder, last), 'w')).close();
      const again = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 600 });
      const reopened = await again.openQueue(QUEUE);
      const recovered = await reopened.recover();
      assert.deepEqual([...recovered.messages].map((m) => m.seq), seqs(1, 4));
      assert.equal(recovered.report.droppedBytes, 4);
      assert.match(recovered.report.problems[0]!, /truncated a torn tail/);
      for (let seq = 5; seq <= 12; seq++) await reopened.append([enqueue(seq, 'x'.repeat(100))]);
      assert.deepEqual((await reopened.read(seqs(1, 12))).map((m) => m.meta.seq), seqs(1, 12));
      await again.close();
    });
  });

  it('keeps nextSeq when every message is gone and old segments are deleted', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'batch', segmentBytes: 100 });
      const log = await storage.openQueue(QUEUE);
      await log.recover();
      for (let seq = 1; seq <= 10; seq++) await log.append([enqueue(seq)]);
      await log.append([{ type: 'remove', seqs: seqs(1, 10), reason: 'expired' }]);
      await log.append([{ type: 'remove', seqs: [asSeq(3)], reason: 'ack' }]);
      await storage.close();
      const again = await FileStorage.open(dir, { fsync: 'batch', segmentBytes: 100 });
      const recovered = await again.openQueue(QUEUE).then((l) => l.recover());
      assert.deepEqual([...recovered.messages], []);
      assert.equal(recovered.nextSeq, 11);
      await again.close();
    });
  });

  it('rejects misuse with StorageError and keeps working after a bad append', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      const log = await storage.openQueue(QUEUE);
      await assert.rejects(log.append([enqueue(1)]), StorageError, 'append before recover');
      await assert.rejects(storage.openQueue(QUEUE), StorageError, 'a queue opened twice');
      await log.recover();
      await assert.rejects(log.recover(), StorageError);
      await log.append([enqueue(5)]);
      await assert.rejects(log.append([enqueue(6), enqueue(6)]), StorageError, 'seqs must increase');
      await assert.rejects(log.append([enqueue(4)]), StorageError, 'seqs must increase');
      const unframeable = { type: 'remove', seqs: [asSeq(5)], reason: 'lost' as RemoveReason } as const;
      await assert.rejects(log.append([enqueue(6), unframeable]), StorageError, 'an unknown remove reason');
      await log.append([enqueue(6), { type: 'remove', seqs: [asSeq(5)], reason: 'ack' }]);
      await assert.rejects(log.read([asSeq(5)]), StorageError, 'removed');
      assert.equal(Buffer.from((await log.read([asSeq(6)]))[0]!.body).toString(), 'body 6');
      await log.close();
      await assert.rejects(log.append([enqueue(7)]), StorageError, 'closed');
      const reopened = await storage.openQueue(QUEUE);
      assert.deepEqual([...(await reopened.recover()).messages].map((m) => m.seq), [6]);
      await storage.close();
      await assert.rejects(storage.openQueue(QUEUE), StorageError, 'storage closed');
    });
  });

  it('a close while a log recovers waits for the recovery, which then fails: nothing touches the folder, and no handle stays open, once the close is done', async () => {
    await withTempDir(async (dir) => {
      const writer = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 256 });
      const log = await writer.openQueue(QUEUE);
      await log.recover();
      // Many segments, so that the recovery takes a while; then a torn tail for it to cut.
      for (let seq = 1; seq <= 400; seq++) await log.append([enqueue(seq)]);
      await writer.close();
      const folder = join(dir, 'queues', queueFolder(QUEUE));
      const last = join(folder, (await readdir(folder)).filter((f) => f.endsWith('.seg')).sort().at(-1)!);
      await writeFile(last, Buffer.from([0xfe, 0x57, 0xc1]), { flag: 'a' });

      const handles = async () => (await readdir('/proc/self/fd')).length;
      const before = await handles();
      const reader = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 256 });
      const recovering = (await reader.openQueue(QUEUE)).recover();
      recovering.catch(() => {});
      await reader.close();
      const size = (await stat(last)).size;
      await assert.rejects(recovering, /closed while it recovered/);
      assert.equal((await stat(last)).size, size);
      assert.equal(await handles(), before);
    });
  });

  it('destroy() deletes the queue and only that queue', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      const [a, b] = [await storage.openQueue(asQueue('a')), await storage.openQueue(asQueue('b'))];
      await a.recover();
      await b.recover();
      await a.append([enqueue(1)]);
      await b.append([enqueue(1)]);
      await a.destroy();
      assert.deepEqual(await readdir(join(dir, 'queues')), ['b']);
      await until(async () => (await readdir(join(dir, 'trash'))).length === 0, 'its files freed, not left in the trash');
      const a2 = await storage.openQueue(asQueue('a'));
      assert.deepEqual([...(await a2.recover()).messages], []);
      await a2.append([enqueue(1)]);
      // A log closed, then destroyed once a namesake is open, must not take the namesake's files.
      await b.close();
      const b2 = await storage.openQueue(asQueue('b'));
      await b2.recover();
      await assert.rejects(b.destroy(), StorageError);
      assert.equal((await b2.read([asSeq(1)]))[0]!.meta.seq, 1, "the namesake's message is still there");
      await b2.close();
      await b.destroy();
      assert.deepEqual(await readdir(join(dir, 'queues')), ['a'], 'closed, and its name free, it goes');
      await storage.close();
    });
  });

  it("recovers a mirror's last mark, after a crash as after a clean close, but not with a record after it, a repair, or a crash under fsync 'batch'", async () => {
    await withTempDir(async (dir) => {
      const recover = async (change: (log: QueueLog) => Promise<unknown>, crash = false, fsync: 'always' | 'batch' = 'always', reopen = fsync) => {
        const storage = await FileStorage.open(dir, { fsync });
        const log = await storage.openQueue(QUEUE);
        await log.recover();
        await change(log);
        await storage.close();
        // A crash leaves no mark of a clean close.
        if (crash) await rm(join(dir, 'queues', queueFolder(QUEUE), 'closed-cleanly'));
        const again = await FileStorage.open(dir, { fsync: reopen });
        const recovered = await (await again.openQueue(QUEUE)).recover();
        await again.close();
        return recovered;
      };
      assert.deepEqual((await recover((log) => log.append([enqueue(1), { type: 'mark', epoch: 3, lsn: 7 }]))).mark, { epoch: 3, lsn: 7 });
      const crashed = await recover((log) => log.append([enqueue(2), { type: 'mark', epoch: 3, lsn: 8 }]), true);
      assert.deepEqual(crashed.mark, { epoch: 3, lsn: 8 });
      assert.ok(crashed.uncertainBelow !== undefined, 'a crash it was');
      // Written without O_DSYNC, the mark may be on disk without what came before it: not after a crash.
      assert.equal((await recover((log) => log.append([enqueue(3), { type: 'mark', epoch: 3, lsn: 9 }]), true, 'batch')).mark, undefined);
      assert.deepEqual((await recover((log) => log.append([enqueue(4), { type: 'mark', epoch: 3, lsn: 10 }]), false, 'batch')).mark, { epoch: 3, lsn: 10 }, 'closed cleanly, it was synced');
      // What a log written under 'batch' holds is not vouched for by a node that reopens it under 'always'.
      assert.equal((await recover((log) => log.append([enqueue(5), { type: 'mark', epoch: 3, lsn: 11 }]), true, 'batch', 'always')).mark, undefined);
      // Reopened under 'always', the log is durable and written in order from then on.
      assert.deepEqual((await recover((log) => log.append([enqueue(6), { type: 'mark', epoch: 3, lsn: 12 }]), true)).mark, { epoch: 3, lsn: 12 });
      assert.equal((await recover((log) => log.append([{ type: 'delivered', seqs: [asSeq(1)] }]))).mark, undefined, 'a record after the mark');
      await recover((log) => log.append([{ type: 'mark', epoch: 4, lsn: 1 }]));
      // Marked, then damaged on disk: the log no longer holds what its mark tells of.
      const [segment] = await segmentFiles(dir);
      const file = join(dir, 'queues', queueFolder(QUEUE), segment!);
      const bytes = await readFile(file);
      bytes[20] = bytes[20]! ^ 0xff;
      await writeFile(file, bytes);
      const repaired = await recover(async () => {});
      assert.ok(repaired.report.droppedRecords > 0);
      assert.equal(repaired.mark, undefined, 'no mark for a log that recovery repaired');
    });
  });

  it('lists the queues it holds, open or not, and no folder it did not name', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      const open = await storage.openQueue(asQueue('orders'));
      await open.recover();
      await (await storage.openQueue(asQueue('Billing v2'))).close();
      await mkdir(join(dir, 'queues', 'Stray'));
      await writeFile(join(dir, 'queues', 'note.txt'), '');
      assert.deepEqual((await storage.storedQueues()).sort(), ['Billing v2', 'orders']);
      await open.destroy();
      assert.deepEqual(await storage.storedQueues(), ['Billing v2']);
      await storage.close();
    });
  });

  it('saves the topology atomically and loads it back', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      assert.equal(await storage.loadTopology(), undefined);
      const topology: TopologySnapshot = {
        queues: [{ name: 'orders', options: { durable: true, maxLength: 10 } }],
        exchanges: [{ name: 'shop', type: 'topic' }],
        bindings: [{ exchange: 'shop', queue: 'orders', pattern: 'order.*' }],
      };
      await Promise.all([storage.saveTopology({ queues: [], exchanges: [], bindings: [] }), storage.saveTopology(topology)]);
      assert.deepEqual(await storage.loadTopology(), topology, 'the last save wins');
      assert.deepEqual((await readdir(dir)).sort(), ['LOCK', 'queues', 'topology.json', 'trash'], 'no temp file left behind (LOCK belongs to the open storage)');
      await storage.close();
      assert.deepEqual(await (await FileStorage.open(dir, { fsync: 'batch' })).loadTopology(), topology);
    });
  });

  it('rejects bad options', async () => {
    await assert.rejects(FileStorage.open('/nonexistent', { fsync: 'always', segmentBytes: 0 }), /segmentBytes/);
    await assert.rejects(FileStorage.open('/nonexistent', { fsync: 'always', segmentBytes: 2 ** 31 }), /segmentBytes/);
  });
});

describe('queueFolder', () => {
  it('keeps plain names readable and escapes the rest', () => {
    assert.equal(queueFolder('orders.created-v2_x'), 'orders.created-v2_x');
    assert.equal(queueFolder('Orders'), '%4Frders');
    assert.equal(queueFolder('..'), '%2E.');
    assert.equal(queueFolder('a/b c%'), 'a%2Fb%20c%25');
    assert.equal(queueFolder('é'), '%C3%A9');
    assert.throws(() => queueFolder(''), /empty/);
  });

  it('cuts long names and tells them apart by hash', () => {
    const a = queueFolder('x'.repeat(300));
    const b = queueFolder(`${'x'.repeat(299)}y`);
    assert.ok(a.length < 255 && b.length < 255);
    assert.notEqual(a, b);
    assert.match(a, /^x{64}~[0-9a-f]{64}$/);
  });

  it('reads the name back from a folder it made, and no other', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), (name) => {
        assert.equal(queueOfFolder(queueFolder(name)), name);
      }),
      fcParams('queue names read back from their folders', 100),
    );
    assert.equal(queueOfFolder(queueFolder('x'.repeat(300))), undefined, 'a cut name cannot be read back');
    for (const stray of ['Orders', '%4frders', '%zz', 'a%2', '.hidden', '']) assert.equal(queueOfFolder(stray), undefined, stray);
  });

  it('is one-to-one, also ignoring case', () => {
    const names = fc.uniqueArray(fc.string({ unit: 'binary', minLength: 1, maxLength: 90 }), { maxLength: 40, selector: (s) => Buffer.from(s).toString('hex') });
    fc.assert(
      fc.property(names, (list) => {
        const folders = list.map((n) => queueFolder(n).toLowerCase());
        assert.equal(new Set(folders).size, list.length);
        for (const f of folders) assert.match(f, /^[a-z0-9_\-.%~]+$/);
      }),
      fcParams('queue folders are one-to-one', 100),
    );
  });
});

describe('FileStorage folder layout', () => {
  it('creates the data folder with a queues folder', async () => {
    await withTempDir(async (dir) => {
      const storage = await FileStorage.open(join(dir, 'deep', 'data'), { fsync: 'always' });
      assert.ok((await stat(join(dir, 'deep', 'data', 'queues'))).isDirectory());
      await storage.close();
    });
  });
});

/** Runs `body` while FileHandle's write and datasync are counted (and the last written fd noted). */
async function countingFileCalls<T>(dir: string, body: (calls: { write: number; datasync: number; fd?: number }) => Promise<T>): Promise<T> {
  const probe = await open(join(dir, 'probe'), 'w');
  const handles = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const { write, datasync } = handles;
  const calls: { write: number; datasync: number; fd?: number } = { write: 0, datasync: 0 };
  handles.write = function (this: FileHandle, ...args: Parameters<FileHandle['write']>) {
    calls.write++;
    calls.fd = this.fd;
    return write.apply(this, args);
  } as FileHandle['write'];
  handles.datasync = function (this: FileHandle) {
    calls.datasync++;
    return datasync.call(this);
  };
  try {
    return await body(calls);
  } finally {
    Object.assign(handles, { write, datasync });
  }
}
