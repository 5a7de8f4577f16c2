// Takeovers when a leader's lease lapses, between coordinators of two mirrors sharing a metadata store:
// the mirror that holds the most leads, and a mirror that cannot learn what the other holds waits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asNodeId, asQueue, type NodeId } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { Coordinator } from './coordinator.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import type { Position } from './quorum.ts';

const queue = asQueue('q');
const [L, A, B] = ['L', 'A', 'B'].map(asNodeId) as [NodeId, NodeId, NodeId];
const LEASE_MS = 100;

async function mirrors(positions: (asker: NodeId, node: NodeId) => Position | undefined) {
  const store = new MemoryMetaStore();
  await store.create(queue, { leader: L, epoch: 1, replicas: [L, A, B], inSync: [L, A, B], minInSync: 2 });
  const led: NodeId[] = [];
  const coordinators = [A, B].map((self) => new Coordinator(self, store, {
    changed: () => {},
    removed: () => {},
    lead: async () => { led.push(self); },
    position: async (_q, node) => positions(self, node),
  }, LEASE_MS, true));
  for (const c of coordinators) c.start();
  return { store, led, coordinators, stop: () => { for (const c of coordinators) c.stop(); } };
}

describe('a takeover', () => {
  /** Who leads once the lease lapses, the mirrors holding `held`; `before` runs on the coordinators first. */
  async function takeover(held: Map<NodeId, Position>, before: (coordinators: Coordinator[]) => void = () => {}) {
    const { store, led, coordinators, stop } = await mirrors((_asker, node) => held.get(node));
    before(coordinators);
    try {
      await until(() => led.length > 0, 'a new leader');
      await new Promise((r) => setTimeout(r, LEASE_MS * 3));
      return { led, meta: (await store.get(queue))!.meta };
    } finally {
      stop();
    }
  }

  it('goes to the in-sync mirror that holds the most, even when another would come first', async () => {
    // A comes first in inSync (it would try first) but holds less than B.
    const { led, meta } = await takeover(new Map([[A, { seq: 5 }], [B, { seq: 9 }]]));
    assert.deepEqual(led, [B]);
    assert.deepEqual([meta.leader, meta.epoch, meta.inSync], [B, 2, [B]]);
  });

  it("goes to the mirror further along the leader's stream when both hold the same seq (an ack that reached only it)", async () => {
    const { led } = await takeover(new Map([[A, { seq: 9, stream: { epoch: 1, lsn: 40 } }], [B, { seq: 9, stream: { epoch: 1, lsn: 42 } }]]));
    assert.deepEqual(led, [B]);
  });

  it('never goes to a mirror whose node is stopping, even the one that holds the most', async () => {
    const { led } = await takeover(new Map([[A, { seq: 9 }], [B, { seq: 9 }]]), (coordinators) => coordinators[0]!.retire());
    assert.deepEqual(led, [B]);
  });

  it('waits while a candidate cannot learn what the other in-sync mirror holds', async () => {
    const { store, led, stop } = await mirrors((asker, node) => (node === asker ? { seq: 7 } : undefined));
    try {
      await new Promise((r) => setTimeout(r, LEASE_MS * 6));
      assert.deepEqual(led, []);
      assert.equal((await store.get(queue))!.meta.leader, L);
    } finally {
      stop();
    }
  });
});

describe('a leader that gave its queue back', () => {
  /** L leads the queue, A its mirror; `led` holds when L claimed it, each time. */
  async function leading() {
    const store = new MemoryMetaStore();
    await store.create(queue, { leader: L, epoch: 1, replicas: [L, A], inSync: [L], minInSync: 1 });
    const led: number[] = [];
    const coordinator = new Coordinator(L, store, { changed: () => {}, removed: () => {}, lead: async () => { led.push(Date.now()); }, position: async () => ({ seq: 0 }) }, LEASE_MS, true);
    coordinator.start();
    await until(() => led.length === 1, 'the lead claimed');
    return { store, led, coordinator };
  }

  it('claims it again once its pause is over, and not before', async () => {
    const { store, led, coordinator } = await leading();
    try {
      const pause = LEASE_MS * 5;
      const released = Date.now();
      coordinator.released(queue, pause);
      await until(() => led.length === 2, 'the lead claimed again');
      assert.ok(led[1]! - released >= pause, `claimed again ${led[1]! - released} ms after it was given back`);
      assert.deepEqual([(await store.get(queue))!.meta.leader, (await store.get(queue))!.meta.epoch], [L, 3]);
    } finally {
      coordinator.stop();
    }
  });

  it('takes the lead at once, pause or not, when a later leader names it', async () => {
    const { store, led, coordinator } = await leading();
    try {
      coordinator.released(queue, 60_000);
      // A led meanwhile (epoch 3), and hands the lead to L.
      const now = (await store.get(queue))!;
      await store.update(queue, { ...now.meta, leader: A, epoch: 3, inSync: [A, L] }, now.revision);
      const led3 = (await store.get(queue))!;
      await store.update(queue, { ...led3.meta, leader: L }, led3.revision);
      await until(() => led.length === 2, 'the lead claimed again, within the pause');
      assert.deepEqual([(await store.get(queue))!.meta.leader, (await store.get(queue))!.meta.epoch], [L, 4]);
    } finally {
      coordinator.stop();
    }
  });
});
