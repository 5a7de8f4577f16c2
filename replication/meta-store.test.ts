// The metadata store contract, on both implementations: compare-and-set on the revision, and a watch
// that sees the latest state of every entry, in revision order. The KV store runs on a nats-server of the
// test's own, and ignores (and counts) entries that are not Warren's.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { asNodeId, asQueue, type QueueName } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { KvMetaStore } from './kv-meta-store.ts';
import { MemoryMetaStore } from './memory-meta-store.ts';
import { CasConflict, type MetaStore, type QueueMeta, type Versioned } from './meta-store.ts';

const a = asNodeId('a');
const b = asNodeId('b');
const meta: QueueMeta = { leader: a, epoch: 0, replicas: [a, b], inSync: [a], minInSync: 2 };
const q = asQueue('orders');

function contract(name: string, open: () => Promise<MetaStore>): void {
  it(`${name}: creates once, then changes only from the revision it read`, async () => {
    const store = await open();
    try {
      const seen: [QueueName, Versioned | undefined][] = [];
      const first = await store.create(q, meta);
      assert.deepEqual(first.meta, meta);
      assert.deepEqual(await store.create(q, { ...meta, leader: b }), first, 'a second create returns what is stored');
      const stop = store.watch((queue, v) => seen.push([queue, v]));
      const taken = await store.update(q, { ...meta, leader: b, epoch: 1 }, first.revision);
      assert.ok(taken.revision > first.revision);
      await assert.rejects(store.update(q, { ...meta, leader: a, epoch: 1 }, first.revision), CasConflict);
      assert.deepEqual((await store.get(q))?.meta.leader, b);
      assert.equal(await store.get(asQueue('nothing')), undefined);
      // A watch sees the latest state of each key: a write made while it was starting may come folded in.
      await until(() => seen.at(-1)?.[1]?.meta.epoch === 1, `the watch saw the change: ${JSON.stringify(seen)}`);
      assert.ok(seen.every(([queue, v], i) => queue === q && (i === 0 || seen[i - 1]![1]!.revision < v!.revision)));
      // A deleted queue's metadata: gone, the watch says so, and declaring the queue again starts over.
      await store.delete(q);
      assert.equal(await store.get(q), undefined);
      await until(() => seen.length > 0 && seen.at(-1)![1] === undefined, 'the watch saw the delete');
      assert.deepEqual((await store.create(q, meta)).meta, meta);
      stop();
    } finally {
      await store.close();
    }
  });
}

describe('queue metadata stores', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let bucket = 0;
  before(async () => { server = await NatsServer.start(); nc = await connect({ servers: server.url }); });
  after(async () => { await nc.close(); await server.stop(); });

  contract('memory', async () => new MemoryMetaStore());
  contract('JetStream KV', async () => KvMetaStore.open(nc, `c${bucket++}`));

  it('JetStream KV: an entry that is not Warren metadata is ignored and counted', async () => {
    const store = await KvMetaStore.open(nc, 'hostile');
    const kv = await nc.jetstream().views.kv('warren_hostile_ha');
    await kv.put(`m.${Buffer.from('x').toString('base64url')}`, new TextEncoder().encode('{"leader": 42}'));
    assert.equal(await store.get(asQueue('x')), undefined);
    assert.equal(store.rejected, 1);
    await store.close();
  });
});
