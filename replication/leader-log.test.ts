// A catching-up mirror's snapshot: every live message once, whole, in seq order, whatever the sizes of
// the bodies (it is read a few megabytes at a time), and the removed ones' ids for the dedup window.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asMessageId, asQueue, asSeq } from '../node/ids.ts';
import { propertyParams } from '../property-tests/params.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
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
