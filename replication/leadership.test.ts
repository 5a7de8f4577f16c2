// A leader's confirms, its mirrors leaving inSync and its hand-over, against mirrors whose answers the
// test gives (the links' sends are the leader's edge to the network): which mirror holds what, and when,
// is the point here. Real mirrors over NATS are in mirrored.test.ts and property-tests/.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DiskFailure } from '../node/errors.ts';
import { asMessageId, asNodeId, asQueue, asSeq, type NodeId } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { scanRecords } from '../storage/record-codec.ts';
import type { QueueLog } from '../storage/storage.ts';
import { Leadership } from './leadership.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import type { SendFrame } from './mirror-link.ts';

const queue = asQueue('q');
const [L, A, B] = ['L', 'A', 'B'].map(asNodeId) as [NodeId, NodeId, NodeId];

/**
 * A mirror as the leader sees it: every frame's answer waits until the test lets it go (or fails it).
 * `seqs`: the messages its copy holds, by the frames it answered (a reset empties it).
 */
class Mirror {
  readonly pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  auto = true;
  seqs: number[] = [];
  readonly send: SendFrame = (frame) => new Promise<void>((resolve, reject) => {
    const held = () => {
      if (frame.reset) this.seqs = [];
      for (const item of scanRecords(Buffer.from(frame.records))) if (item.kind === 'record' && item.record.type === 'enqueue') this.seqs.push(item.record.meta.seq);
      resolve();
    };
    if (this.auto) held();
    else this.pending.push({ resolve: held, reject });
  });

  answer(): void {
    for (const p of this.pending.splice(0)) p.resolve();
  }

  fail(): void {
    for (const p of this.pending.splice(0)) p.reject(new Error('no answer'));
  }
}

/**
 * The local log a leader wraps, slowed as a disk is: recovery takes a while, and writes wait while
 * `held` (a write queued behind an fdatasync).
 */
class SlowLog implements QueueLog {
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => {};
  constructor(private readonly inner: QueueLog) {}
  hold(): void { this.gate = new Promise((r) => { this.open = r; }); }
  release(): void { this.open(); }
  async recover() { await new Promise((r) => setTimeout(r, 50)); return this.inner.recover(); }
  async append(...args: Parameters<QueueLog['append']>) { await this.gate; return this.inner.append(...args); }
  read(...args: Parameters<QueueLog['read']>) { return this.inner.read(...args); }
  close() { return this.inner.close(); }
  destroy() { return this.inner.destroy(); }
}

/** A leader of three replicas; `inSync` [L] is a node that has just claimed the lead; `backlog` messages are in its log. */
async function leader(opts: { inSync?: NodeId[]; backlog?: number; stallMs?: number } = {}) {
  const store = new MemoryMetaStore();
  const won = await store.create(queue, { leader: L, epoch: 1, replicas: [L, A, B], inSync: opts.inSync ?? [L, A, B], minInSync: 2 });
  const mirrors = new Map([[A, new Mirror()], [B, new Mirror()]]);
  const storage = new MemoryStorage();
  const before = await storage.openQueue(queue);
  for (let i = 0; i < (opts.backlog ?? 0); i++) await publish(before);
  const local = new SlowLog(await storage.openQueue(queue));
  const leadership = new Leadership(queue, L, store, won, (n) => mirrors.get(n)!.send, () => {}, { leaseMs: 2_000, stallMs: opts.stallMs ?? 10_000 });
  const log = leadership.wrap(local);
  await log.recover();
  const inSync = async () => (await store.get(queue))!.meta.inSync;
  // The links start with a snapshot each; both mirrors answer until they are back in sync.
  await until(async () => (await inSync()).length === 3 && leadership.stats().every((m) => m.inSync), 'both mirrors in sync');
  return { store, storage, leadership, log, local, inSync, a: mirrors.get(A)!, b: mirrors.get(B)! };
}

let seq = 0;
const publish = (log: QueueLog) => {
  const s = ++seq;
  return log.append([{ type: 'enqueue', meta: { seq: asSeq(s), id: asMessageId(`m${s}`), headers: {}, priority: 0, enqueuedAt: 0, size: 1 }, body: new Uint8Array(1) }]);
};
const settled = <T>(p: Promise<T>) => p.then(() => 'confirmed', (e: Error) => e.message);

describe('a mirrored queue leader', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('confirms once one of two mirrors holds an append: a slow mirror holds nothing back', async () => {
    const { leadership, log, a, b } = await leader();
    stop = () => leadership.stop();
    b.auto = false;
    assert.equal(await settled(publish(log)), 'confirmed');
    a.auto = false;
    const waiting = publish(log);
    let done = false;
    void waiting.finally(() => { done = true; });
    await until(() => a.pending.length > 0 && b.pending.length > 0, 'the frames sent');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'not confirmed while neither mirror holds it');
    b.answer();
    assert.equal(await settled(waiting), 'confirmed');
  });

  it('lets a lagging mirror leave inSync only once the mirrors that stay hold every confirmed append', async () => {
    const { leadership, log, inSync, a, b } = await leader();
    stop = () => leadership.stop();
    b.auto = false;
    assert.equal(await settled(publish(log)), 'confirmed');
    // A now fails: it lags. B has not answered yet, so without A no in-sync mirror holds that confirm.
    a.auto = false;
    void publish(log).catch(() => {});
    await until(() => a.pending.length > 0, 'a frame to A');
    a.fail();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await inSync(), [L, A, B], 'A stays in sync while it is the only mirror holding a confirmed append');
    b.answer();
    b.auto = true;
    await until(async () => !(await inSync()).includes(A), 'A out of inSync once B holds everything confirmed');
    assert.ok((await inSync()).includes(B));
  });

  it("a new leader's mirrors get the backlog it recovers before they join inSync", async () => {
    const backlog = seq + 1;
    const { leadership, log, a, b } = await leader({ inSync: [L], backlog: 5 });
    stop = () => leadership.stop();
    const expected = [backlog, backlog + 1, backlog + 2, backlog + 3, backlog + 4];
    assert.deepEqual(a.seqs, expected);
    assert.deepEqual(b.seqs, expected);
    assert.equal(await settled(publish(log)), 'confirmed');
  });

  it("a mirror's snapshot holds a message whose local write is still under way", async () => {
    const { leadership, log, local, inSync, a } = await leader();
    stop = () => leadership.stop();
    // The local write waits; A fails the frame, lags, and starts over with a snapshot meanwhile.
    local.hold();
    a.auto = false;
    const s = seq + 1;
    const confirmed = settled(publish(log));
    await until(() => a.pending.length > 0, 'the frame to A');
    a.fail();
    a.auto = true;
    await until(async () => !(await inSync()).includes(A), 'A out of inSync');
    await new Promise((r) => setTimeout(r, 300)); // past the link's retry delay: A's snapshot is under way
    local.release();
    assert.equal(await confirmed, 'confirmed');
    await until(async () => (await inSync()).includes(A), 'A back in sync');
    assert.ok(a.seqs.includes(s), `A holds seq ${s}: ${a.seqs.join(',')}`);
  });

  it('a message whose publish was refused for want of a quorum is committed, for its delivery, once the mirrors answer again', async () => {
    const { leadership, log, a, b } = await leader({ stallMs: 200 });
    stop = () => leadership.stop();
    assert.equal(await settled(publish(log)), 'confirmed');
    a.auto = false;
    b.auto = false;
    assert.match(await settled(publish(log)), /no quorum/);
    // Deliveries of it, and of every message before it, wait; they are not dropped.
    const delivered = settled(leadership.messagesCommitted());
    a.auto = true;
    b.auto = true;
    a.answer();
    b.answer();
    assert.equal(await delivered, 'confirmed');
    await leadership.handOff();
    assert.match(await settled(leadership.messagesCommitted()), /leader is stopping/, "a leader handing over delivers nothing more");
  });

  it('after its queue actor restarts, delivers the messages it recovers only once the mirrors hold them', async () => {
    const { leadership, storage, log, a, b } = await leader();
    stop = () => leadership.stop();
    a.auto = false;
    b.auto = false;
    const refused = settled(publish(log));
    // The queue actor restarts: its log is wrapped anew and recovered, the message not committed yet.
    await log.close();
    await leadership.wrap(await storage.openQueue(queue)).recover();
    assert.match(await refused, /the queue restarted/);
    let delivered = false;
    const committed = leadership.messagesCommitted().then(() => { delivered = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(delivered, false, 'no delivery of a message the mirrors may not hold');
    a.auto = true;
    b.auto = true;
    a.answer();
    b.answer();
    await committed;
  });

  it('hands the lead over to the mirror that holds every confirmed append', async () => {
    const { store, leadership, log, a } = await leader();
    stop = () => leadership.stop();
    a.auto = false;
    assert.equal(await settled(publish(log)), 'confirmed');
    // Only B holds the last confirmed append: the lead goes to B, although A comes first in inSync.
    await leadership.handOff();
    assert.equal((await store.get(queue))!.meta.leader, B);
    a.answer();
  });
});

describe('a leader that steps down', () => {
  /** L leading the queue on `inner`, with `mirrors` answering by `send`; `why` holds what it says once it no longer leads. */
  async function leading(inner: QueueLog, mirrors: NodeId[], send: SendFrame) {
    const store = new MemoryMetaStore();
    const won = await store.create(queue, { leader: L, epoch: 2, replicas: [L, ...mirrors], inSync: [L], minInSync: 1 });
    const why: string[] = [];
    const leadership = new Leadership(queue, L, store, won, () => send, (w) => why.push(w));
    const log = leadership.wrap(inner);
    await log.recover();
    return { store, why, leadership, log };
  }

  it('gives the queue back when no in-sync mirror can take the lead (its disk failed after a takeover, the mirrors not in sync yet)', async () => {
    const inner = await new MemoryStorage().openQueue(queue);
    const failing: QueueLog = {
      recover: () => inner.recover(),
      append: async () => { throw new DiskFailure(`queue '${queue}': a write failed`); },
      read: (seqs) => inner.read(seqs),
      close: () => inner.close(),
      destroy: () => inner.destroy(),
    };
    // The mirrors never answer: neither is in sync.
    const { store, why, leadership, log } = await leading(failing, [A, B], () => new Promise(() => {}));
    try {
      await assert.rejects(log.append([{ type: 'enqueue', meta: { seq: asSeq(1), id: asMessageId('m1'), headers: {}, priority: 0, enqueuedAt: 0, size: 0 }, body: new Uint8Array(0) }]));
      await until(() => why.length > 0, 'the queue given back');
      assert.deepEqual(why, ['failed']);
      assert.equal((await store.get(queue))!.meta.leader, L, 'no mirror was named');
    } finally {
      leadership.stop();
    }
  });

  it('gives the queue up at once (deposed) when it names an in-sync mirror, whether or not the mirror ever claims it', async () => {
    const { store, why, leadership } = await leading(await new MemoryStorage().openQueue(queue), [A], async () => {});
    try {
      await until(() => leadership.stats().every((m) => m.inSync && m.lag === 0), 'the mirror in sync');
      leadership.stepDown();
      await until(() => why.length > 0, 'the queue given up');
      assert.deepEqual(why, ['deposed']);
      assert.equal((await store.get(queue))!.meta.leader, A, 'the mirror named');
    } finally {
      leadership.stop();
    }
  });
});

describe("a mirror's snapshot", () => {
  it('keeps the dedup id of a message removed while the snapshot is read, and ends holding what the leader holds', async () => {
    // A real log for the mirror, fed what the leader sends; a reset empties it.
    const mirrorStorage = new MemoryStorage();
    let copy: QueueLog | undefined;
    let failNext = false;
    let onReset: (() => void) | undefined;
    const send: SendFrame = async (frame) => {
      if (failNext) {
        failNext = false;
        throw new Error('the mirror failed a frame');
      }
      if (frame.reset) {
        await copy?.close();
        await mirrorStorage.destroyQueue(queue);
        copy = await mirrorStorage.openQueue(queue);
        await copy.recover();
        onReset?.();
        return;
      }
      const records = [...scanRecords(Buffer.from(frame.records))].flatMap((item) => (item.kind === 'record' ? [item.record] : []));
      if (records.length > 0) await copy!.append(records);
    };
    const store = new MemoryMetaStore();
    const won = await store.create(queue, { leader: L, epoch: 1, replicas: [L, A], inSync: [L], minInSync: 1 });
    const leadership = new Leadership(queue, L, store, won, () => send, () => {});
    try {
      const log = leadership.wrap(await new MemoryStorage().openQueue(queue));
      await log.recover();
      await until(() => leadership.stats().every((m) => m.inSync && m.lag === 0), 'the mirror in sync');
      await log.append([{ type: 'enqueue', meta: { seq: asSeq(1), id: asMessageId('order-1'), headers: {}, priority: 0, enqueuedAt: Date.now(), size: 1 }, body: Uint8Array.of(1) }]);
      // The mirror fails a frame: it lags, and starts over with a snapshot, taken while order-1 is live.
      failNext = true;
      await log.append([{ type: 'delivered', seqs: [asSeq(1)] }]).catch(() => {});
      // Its ack comes after the snapshot was taken, before its body is read for it.
      onReset = () => {
        onReset = undefined;
        void log.append([{ type: 'remove', seqs: [asSeq(1)], reason: 'ack' }]);
      };
      await until(() => onReset === undefined && leadership.stats().every((m) => m.inSync && m.lag === 0), 'the mirror back in sync');
      const [held, mirrored] = [await log.recover(), await copy!.recover()];
      assert.deepEqual(mirrored.recentIds.map((r) => r.id), held.recentIds.map((r) => r.id), 'the same dedup window');
      assert.deepEqual([...mirrored.messages], [...held.messages], 'the same live messages (none)');
    } finally {
      leadership.stop();
    }
  });
});
