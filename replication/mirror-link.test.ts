// What a mirror link sends, whatever the sizes of the appends: every record once, in order, in
// frames that stay under half of NATS's max payload unless one record alone is larger; an append
// split between frames counts as acknowledged only with its last part.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asMessageId, asNodeId, asQueue, asSeq, type NodeId } from '../node/ids.ts';
import { FRAME_BATCH_BYTES } from '../node/limits.ts';
import { until } from '../node/testing.ts';
import { propertyParams } from '../property-tests/params.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { frameRecords, scanRecords } from '../storage/record-codec.ts';
import type { LogRecord } from '../storage/storage.ts';
import { Leadership } from './leadership.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import type { SendFrame } from './mirror-link.ts';

const queue = asQueue('q');
const [L, A, B] = ['L', 'A', 'B'].map(asNodeId) as [NodeId, NodeId, NodeId];

/** The records of the stream frames a mirror got (the snapshot's are empty here: the log starts empty). */
class Mirror {
  readonly frames: Buffer[] = [];
  readonly send: SendFrame = async (frame) => {
    if (frame.records.length > 0) this.frames.push(Buffer.from(frame.records));
  };
}

describe('a mirror link', () => {
  it('sends every record once, in order, in frames under the limit; the appends are confirmed', async () => {
    // Appends of 1 to 8 records with bodies of up to 300 KiB: one record, or many, over a frame.
    const appends = fc.array(fc.array(fc.integer({ min: 0, max: 300 * 1024 }), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 });
    await fc.assert(fc.asyncProperty(appends, async (sizes) => {
      const store = new MemoryMetaStore();
      const won = await store.create(queue, { leader: L, epoch: 1, replicas: [L, A, B], inSync: [L, A, B], minInSync: 2 });
      const mirrors = new Map([[A, new Mirror()], [B, new Mirror()]]);
      const leadership = new Leadership(queue, L, store, won, (n) => mirrors.get(n)!.send, () => {});
      try {
        const log = leadership.wrap(await new MemoryStorage().openQueue(queue));
        await log.recover();
        await until(() => leadership.stats().every((m) => m.inSync), 'both mirrors in sync');
        let seq = 0;
        const batches: LogRecord[][] = sizes.map((batch) => batch.map((size) => {
          const s = ++seq;
          return { type: 'enqueue', meta: { seq: asSeq(s), id: asMessageId(`m${s}`), headers: {}, priority: 0, enqueuedAt: 0, size }, body: new Uint8Array(size).fill(s % 251) };
        }));
        // All at once: appends pile up in the outbox and go together where they fit.
        await Promise.all(batches.map((records) => log.append(records)));
        const expected = Buffer.concat(batches.map((records) => frameRecords(records).bytes));
        for (const mirror of mirrors.values()) {
          assert.ok(Buffer.concat(mirror.frames).equals(expected), 'the records, once each, in order');
          for (const frame of mirror.frames) {
            const records = [...scanRecords(frame)];
            assert.ok(records.every((r) => r.kind === 'record'), 'whole records in every frame');
            assert.ok(frame.length <= FRAME_BATCH_BYTES || records.length === 1, `a frame of ${frame.length} bytes holds ${records.length} records`);
          }
        }
      } finally {
        leadership.stop();
      }
    }), { ...propertyParams('mirror link frames', 30) });
  });
});
