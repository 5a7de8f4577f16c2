// What a mirror link sends, whatever the sizes of the appends: every record once, in order, in
// frames that stay under half of NATS's max payload unless one record alone is larger; an append
// split between frames counts as acknowledged only with its last part. A mirror that went silent for a
// while gets what it missed from the leader's log, not a snapshot.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asMessageId, asNodeId, asQueue, asSeq, type NodeId } from '../node/ids.ts';
import { FRAME_BATCH_BYTES } from '../node/limits.ts';
import { until } from '../node/testing.ts';
import { propertyParams } from '../property-tests/params.ts';
import { FileStorage } from '../storage/file-storage.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { frameRecords, scanRecords } from '../storage/record-codec.ts';
import type { LogRecord } from '../storage/storage.ts';
import { withTempDir } from '../storage/test-support.ts';
import { Leadership } from './leadership.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import type { MirrorRequests, SendFrame } from './mirror-link.ts';

const queue = asQueue('q');
const [L, A, B] = ['L', 'A', 'B'].map(asNodeId) as [NodeId, NodeId, NodeId];

/** The records of the stream frames a mirror got (the snapshot's are empty here: the log starts empty). */
class Mirror {
  readonly frames: Buffer[] = [];
  readonly send: SendFrame = async (frame) => {
    if (frame.records.length > 0) this.frames.push(Buffer.from(frame.records));
  };
}

/**
 * A mirror as the link sees it: its copy (the records of every frame of its session, emptied by a
 * reset), its place in the stream, and its answers; while `silent`, it answers nothing.
 */
class FollowingMirror {
  copy: Buffer[] = [];
  resets = 0;
  silent = false;
  private session = '';
  private lsn = 0;
  readonly send: SendFrame = async (frame) => {
    if (this.silent) throw new Error('no answer');
    if (frame.reset) {
      this.copy = [];
      this.resets++;
      this.session = frame.session;
    }
    if (frame.session !== this.session) throw new Error('out of sync');
    if (frame.records.length > 0) this.copy.push(Buffer.from(frame.records));
    if (frame.lsn > 0) this.lsn = frame.lsn;
  };
  readonly requests: MirrorRequests = {
    position: async () => (this.silent ? undefined : { seq: 0, stream: { epoch: 1, lsn: this.lsn } }),
    resume: async (session, from) => {
      if (this.silent || from.epoch !== 1 || from.lsn !== this.lsn) return false;
      this.session = session;
      return true;
    },
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

  it('gives a mirror that went silent the appends it missed, from the log, without a snapshot', async () => {
    await withTempDir(async (dir) => {
      const store = new MemoryMetaStore();
      const won = await store.create(queue, { leader: L, epoch: 1, replicas: [L, A, B], inSync: [L, A, B], minInSync: 2 });
      const mirrors = new Map([[A, new FollowingMirror()], [B, new FollowingMirror()]]);
      const leadership = new Leadership(queue, L, store, won, (n) => mirrors.get(n)!.send, () => {}, undefined, { requests: (n) => mirrors.get(n)!.requests });
      const storage = await FileStorage.open(dir, { fsync: 'always' });
      try {
        const log = leadership.wrap(await storage.openQueue(queue));
        await log.recover();
        await until(() => leadership.stats().every((m) => m.inSync), 'both mirrors in sync');
        const batch = (from: number): LogRecord[] => Array.from({ length: 20 }, (_, i) => ({ type: 'enqueue', meta: { seq: asSeq(from + i), id: asMessageId(`m${from + i}`), headers: {}, priority: 0, enqueuedAt: 0, size: 1024 }, body: new Uint8Array(1024).fill(i) }));
        const batches = Array.from({ length: 12 }, (_, i) => batch(1 + i * 20));
        for (const records of batches.slice(0, 4)) await log.append(records);
        // A goes silent: the appends are confirmed by L and B; A leaves inSync.
        mirrors.get(A)!.silent = true;
        for (const records of batches.slice(4, 8)) await log.append(records);
        await until(() => leadership.stats().find((m) => m.nodeId === A)?.inSync === false, 'A out of sync');
        mirrors.get(A)!.silent = false;
        for (const records of batches.slice(8)) await log.append(records);
        await until(() => leadership.stats().every((m) => m.inSync && m.lag === 0), 'A back in sync');
        const expected = Buffer.concat(batches.map((records) => frameRecords(records).bytes));
        assert.ok(Buffer.concat(mirrors.get(A)!.copy).equals(expected), 'A holds every record once, in order');
        assert.equal(mirrors.get(A)!.resets, 1, 'no snapshot but the first');
        assert.equal(leadership.stats().find((m) => m.nodeId === A)?.snapshots, 1);
      } finally {
        leadership.stop();
        await storage.close();
      }
    });
  });
});
