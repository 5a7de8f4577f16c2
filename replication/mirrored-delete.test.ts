// Purging and deleting a mirrored queue, with three nodes in one process on a nats-server of the
// test's own: the purge is a log record like any other, so a new leader does not have the purged
// messages; a delete takes the copy of every replica and the queue's metadata with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Message, Warren } from '../index.ts';
import { asQueue } from '../node/ids.ts';
import { exists, testCluster, until } from '../node/testing.ts';
import { NatsTransport } from '../transport/nats.ts';
import { KvMetaStore } from './kv-meta-store.ts';

describe('purging and deleting a mirrored queue', () => {
  const cluster = testCluster('hadel');
  const { start } = cluster;

  it('a purge reaches the mirrors (a new leader has not the purged messages); a delete removes every replica and the metadata', async () => {
    const nodes = new Map<string, Warren>([['a', await start('a')], ['b', await start('b')], ['c', await start('c')]]);
    const client = await start('client', 'client');
    const transport = await NatsTransport.connect({ servers: cluster.server.url });
    const meta = await KvMetaStore.open(transport.connection, cluster.name);
    const leaderStats = () => [...nodes.values()].flatMap((n) => n.stats().queues.filter((q) => q.name === 'orders'));
    const allInSync = () => leaderStats()[0]?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false;
    try {
      await nodes.get('a')!.declareQueue('orders', { mirrors: 2 });
      await until(allInSync, 'both mirrors in sync');
      for (let i = 0; i < 10; i++) await client.publish({ queue: 'orders' }, `m${i}`, { id: `id-${i}` });
      const held: Message[] = [];
      const consumer = await client.consume('orders', (m) => { held.push(m); }, { ack: 'manual', prefetch: 2 });
      await until(() => held.length === 2, 'two delivered');

      assert.equal(await client.purgeQueue('orders'), 8, 'the ready ones; the two unacked stay');
      await until(allInSync, 'the purge on both mirrors');
      await nodes.get('a')!.stop();
      nodes.delete('a');
      await until(() => leaderStats().length === 1, 'a mirror took over', 30_000);
      // The new leader has the two that were unacked (they come back, redelivered), not the purged eight.
      await until(() => held.length === 4, 'the two unacked ones again', 30_000);
      assert.deepEqual(held.slice(2).map((m) => [m.text(), m.redelivered]), [['m0', true], ['m1', true]]);
      assert.equal(leaderStats()[0]?.ready, 0);
      nodes.set('a', await start('a'));
      await until(() => leaderStats()[0]?.mirrors.filter((m) => m.inSync).length === 2, 'the old leader is a mirror again, in sync', 30_000);

      await assert.rejects(client.deleteQueue('orders', { ifUnused: true }), { code: 'PRECONDITION_FAILED' });
      assert.equal(await client.deleteQueue('orders'), 2, 'the two unacked');
      assert.deepEqual(await consumer.closed, { reason: 'deleted' });
      for (const id of ['a', 'b', 'c']) await until(async () => !(await exists(path.join(cluster.dir, id, 'queues', 'orders'))), `the copy on ${id} is gone from disk`);
      assert.equal(await meta.get(asQueue('orders')), undefined, 'its metadata is gone');
      assert.deepEqual(leaderStats(), [], 'no node leads it');
      await assert.rejects(client.publish({ queue: 'orders' }, 'x'), { code: 'QUEUE_NOT_FOUND' });
      // The other nodes learn of it through the catalog's watch.
      const gone = (node: Warren) => node.publish({ queue: 'orders' }, 'x').then(() => false, (e: { code?: string }) => e.code === 'QUEUE_NOT_FOUND');
      for (const [id, node] of nodes) await until(() => gone(node), `${id} sees it gone`);

      // Declared again: a new mirrored queue, empty, that serves.
      await nodes.get('b')!.declareQueue('orders', { mirrors: 2 });
      await until(allInSync, 'the new queue has its mirrors');
      assert.deepEqual(await client.publish({ queue: 'orders' }, 'again', { id: 'id-0' }), { id: 'id-0', duplicate: false, routed: 1 });
      assert.equal(leaderStats()[0]?.ready, 1);
    } finally {
      await meta.close();
      await transport.close();
      await client.stop();
      for (const n of nodes.values()) await n.stop();
    }
  });

  it('a replica that was down when its queue was deleted drops its copy when it comes back, and keeps no old message for a queue declared anew with that name', async () => {
    const nodes = new Map<string, Warren>([['d', await start('d')], ['e', await start('e')], ['f', await start('f')]]);
    const leaderStats = () => [...nodes.values()].flatMap((n) => n.stats().queues.filter((q) => q.name === 'jobs'));
    const keptStats = () => [...nodes.values()].flatMap((n) => n.stats().queues.filter((q) => q.name === 'kept'))[0];
    const folder = (node: string, queue: string) => path.join(cluster.dir, node, 'queues', queue);
    try {
      await nodes.get('d')!.declareQueue('jobs', { mirrors: 2 });
      await nodes.get('d')!.declareQueue('kept', { mirrors: 2 });
      await nodes.get('d')!.publish({ queue: 'kept' }, 'still here');
      await until(() => leaderStats()[0]?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'both mirrors in sync');
      await until(() => keptStats()?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'both mirrors of the other queue in sync');
      for (let i = 0; i < 3; i++) await nodes.get('d')!.publish({ queue: 'jobs' }, `old-${i}`);
      await until(() => leaderStats()[0]?.mirrors.every((m) => m.lag === 0) ?? false, 'the mirrors hold them');
      await nodes.get('f')!.stop();
      nodes.delete('f');
      assert.equal(await nodes.get('d')!.deleteQueue('jobs'), 3);
      assert.ok(await exists(folder('f', 'jobs')), 'f kept its copy while it was down');
      nodes.set('f', await start('f'));
      assert.equal(await exists(folder('f', 'jobs')), false, 'the copy of the deleted queue is gone once f is back');
      assert.ok(await exists(folder('f', 'kept')), 'the copy of a queue that lives on stays');
      await until(() => keptStats()?.mirrors.every((m) => m.inSync) ?? false, 'f back in sync for the other queue', 30_000);
      assert.equal(keptStats()?.ready, 1);
      // f leads the new queue: it starts empty, not from the copy it kept of the old one.
      await nodes.get('f')!.declareQueue('jobs', { mirrors: 2 });
      await until(() => leaderStats()[0]?.mirrors.every((m) => m.inSync) ?? false, 'the new queue has its mirrors', 30_000);
      assert.equal(leaderStats()[0]?.leader, 'f');
      assert.equal(leaderStats()[0]?.ready, 0);
    } finally {
      for (const n of nodes.values()) await n.stop();
    }
  });
});
