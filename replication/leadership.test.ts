// A leader's confirms, its mirrors leaving inSync and its hand-over, against mirrors whose answers the
// test gives (the links' sends are the leader's edge to the network): which mirror holds what, and when,
// is the point here. Real mirrors over NATS are in mirrored.test.ts and property-tests/.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { asMessageId, asNodeId, asQueue, asSeq, type NodeId } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import type { QueueLog } from '../storage/storage.ts';
import { Leadership } from './leadership.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import type { SendFrame } from './mirror-link.ts';

const queue = asQueue('q');
const [L, A, B] = ['L', 'A', 'B'].map(asNodeId) as [NodeId, NodeId, NodeId];

/** A mirror as the leader sees it: every frame's answer waits until the test lets it go (or fails it). */
class Mirror {
  readonly pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  auto = true;
  readonly send: SendFrame = () => new Promise<void>((resolve, reject) => {
    if (this.auto) resolve();
    else this.pending.push({ resolve, reject });
  });

  answer(): void {
    for (const p of this.pending.splice(0)) p.resolve();
  }

  fail(): void {
    for (const p of this.pending.splice(0)) p.reject(new Error('no answer'));
  }
}

async function leader() {
  const store = new MemoryMetaStore();
  const won = await store.create(queue, { leader: L, epoch: 1, replicas: [L, A, B], inSync: [L, A, B], minInSync: 2 });
  const mirrors = new Map([[A, new Mirror()], [B, new Mirror()]]);
  const leadership = new Leadership(queue, L, store, won, (n) => mirrors.get(n)!.send, () => {});
  const log = leadership.wrap(await new MemoryStorage().openQueue(queue));
  await log.recover();
  const inSync = async () => (await store.get(queue))!.meta.inSync;
  // The links start with a snapshot each; both mirrors answer until they are back in sync.
  await until(async () => (await inSync()).length === 3 && leadership.stats().every((m) => m.inSync), 'both mirrors in sync');
  return { store, leadership, log, inSync, a: mirrors.get(A)!, b: mirrors.get(B)! };
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
