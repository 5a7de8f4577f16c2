// A catching-up mirror's snapshot: every live message once, whole, in seq order, whatever the sizes of
// the bodies (it is read a few megabytes at a time), and the removed ones' ids for the dedup window.
// A lagging mirror's catch-up: the appends it missed, read back from the local log as they were shipped.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asMessageId, asQueue, asSeq } from '../node/ids.ts';
import { propertyParams } from '../property-tests/params.ts';
import { FileStorage } from '../storage/file-storage.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { withTempDir } from '../storage/test-support.ts';
import type { LogRecord } from '../storage/storage.ts';
import { LeaderLog } from './leader-log.ts';

describe("a leader log's snapshot", () => {
  it('holds every live message once, in order, with its deliveries, and the ids of removed ones', async () => {
    // Per message: its body size, whether it was delivered, whether it was acked.
    const messages = fc.array(fc.record({ size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 600 * 1024 })), delivered: fc.boolean(), acked: fc.boolean() }), { maxLength: 120, size: 'max' });
    await fc.assert(fc.asyncProperty(messages, async (plan) => {
      const log = new LeaderLog(await new MemoryStorage().openQueue(asQueue('q')), () => true, () => {}, () => {});
      await log.recover();
      const records: LogRecord[] = plan.map((m, i) => ({
        type: 'enqueue', meta: { seq: asSeq(i + 1), id: asMessageId(`m${i + 1}`), headers: {}, priority: 0, enqueuedAt: i, size: m.size }, body: new Uint8Array(m.size).fill(i % 251),
      }));
      const seqs = (pick: (m: (typeof plan)[number]) => boolean) => plan.flatMap((m, i) => (pick(m) ? [asSeq(i + 1)] : []));
      await log.append(records);
      if (seqs((m) => m.delivered).length) await log.append([{ type: 'delivered', seqs: seqs((m) => m.delivered) }]);
      if (seqs((m) => m.acked).length) await log.append([{ type: 'remove', seqs: seqs((m) => m.acked), reason: 'ack' }]);

      const out: LogRecord[] = [];
      for await (const chunk of log.records(log.snapshot())) out.push(...chunk);
      const enqueued = out.flatMap((r) => (r.type === 'enqueue' ? [r] : []));
      assert.deepEqual(enqueued.map((r) => r.meta.seq), plan.map((_, i) => i + 1), 'each message once, in seq order');
      for (const r of enqueued) {
        const m = plan[r.meta.seq - 1]!;
        assert.equal(r.meta.id, `m${r.meta.seq}`);
        // A live message whole; a removed one as its id alone, removed again.
        assert.equal(r.body.length, m.acked ? 0 : m.size);
        if (!m.acked) assert.ok(r.body.every((b) => b === (r.meta.seq - 1) % 251));
      }
      assert.deepEqual(out.flatMap((r) => (r.type === 'remove' ? r.seqs : [])), seqs((m) => m.acked));
      assert.deepEqual(out.flatMap((r) => (r.type === 'delivered' ? r.seqs : [])), seqs((m) => m.delivered && !m.acked));
    }), { ...propertyParams('leader log snapshot', 25) });
  });
});

describe("a leader log's catch-up", () => {
  const message = (seq: number, size: number): LogRecord => ({
    type: 'enqueue', meta: { seq: asSeq(seq), id: asMessageId(`m${seq}`), headers: {}, priority: 0, enqueuedAt: seq, size }, body: new Uint8Array(size).fill(seq % 251),
  });

  /** A leader log over a file log of small segments, and every append as it was shipped. */
  async function fileLeaderLog(dir: string, segmentBytes: number) {
    const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes });
    const shipped: { lsn: number; bytes: Buffer }[] = [];
    const log = new LeaderLog(await storage.openQueue(asQueue('q')), () => true, (lsn, framed) => { shipped.push({ lsn, bytes: Buffer.from(framed.bytes) }); }, () => {});
    await log.recover();
    return { storage, log, shipped };
  }

  async function readBack(log: LeaderLog, after: number, through: number): Promise<{ lsn: number; bytes: Buffer }[]> {
    const out: { lsn: number; bytes: Buffer }[] = [];
    const missed = log.catchUp(after, through);
    assert.ok(missed, `the appends after ${after} are there`);
    for await (const appends of missed) for (const a of appends) out.push({ lsn: a.lsn, bytes: Buffer.from(a.framed.bytes) });
    return out;
  }

  it('reads back what it shipped after any of its appends, across segments, byte for byte', async () => {
    // Appends: messages of up to 3 KiB (segments of 4 KiB: many rotations), deliveries, empty ones.
    // (Nothing is acked: compaction would take segments, as the next test shows.)
    const append = fc.oneof(fc.array(fc.integer({ min: 0, max: 3 * 1024 }), { minLength: 1, maxLength: 4 }), fc.constant('delivered' as const), fc.constant('empty' as const));
    await fc.assert(fc.asyncProperty(fc.array(append, { minLength: 1, maxLength: 40 }), fc.nat(), async (plan, pick) => {
      await withTempDir(async (dir) => {
        const { storage, log, shipped } = await fileLeaderLog(dir, 4096);
        try {
          let seq = 0;
          for (const a of plan) {
            if (a === 'empty') await log.append([]);
            else if (a === 'delivered') await log.append(seq > 0 ? [{ type: 'delivered', seqs: [asSeq(seq)] }] : []);
            else await log.append(a.map((size) => message(++seq, size)));
          }
          const after = 1 + (pick % log.lsn);
          assert.deepEqual(await readBack(log, after, log.lsn), shipped.filter((s) => s.lsn > after));
        } finally {
          await storage.close();
        }
      });
    }), propertyParams('leader log catch-up', 25));
  });

  it('has nothing to give from before its first append, over a log that does not store frames, or once compaction took the appends', async () => {
    const memory = new LeaderLog(await new MemoryStorage().openQueue(asQueue('q')), () => true, () => {}, () => {});
    await memory.recover();
    await memory.append([message(1, 10)]);
    assert.equal(memory.catchUp(1, 1), undefined, 'a memory log keeps no places');
    await withTempDir(async (dir) => {
      const { storage, log } = await fileLeaderLog(dir, 2048);
      try {
        assert.equal(log.catchUp(0, 0), undefined, 'nothing appended yet');
        for (let seq = 1; seq <= 6; seq++) await log.append([message(seq, 1024)]);
        assert.equal((await readBack(log, 1, 6)).length, 5);
        assert.equal(log.catchUp(1, 7), undefined, 'not appended yet');
        // Every message acked, then more: the segments of the first ones are compacted away.
        await log.append([{ type: 'remove', seqs: [1, 2, 3, 4, 5, 6].map(asSeq), reason: 'ack' }]);
        for (let seq = 7; seq <= 10; seq++) await log.append([message(seq, 1024)]);
        await assert.rejects(readBack(log, 1, log.lsn), /no longer holds/);
        assert.equal(log.catchUp(1, log.lsn), undefined, 'forgotten once found gone');
        assert.equal((await readBack(log, 8, log.lsn)).length, log.lsn - 8, 'what is still there is given');
      } finally {
        await storage.close();
      }
    });
  });
});
