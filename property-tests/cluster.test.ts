// Distributed Warren with real processes: three (or more) node processes on a nats-server of the
// test's own, killed with SIGKILL and restarted under load.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Warren } from '../index.ts';
import { until } from '../node/testing.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { ClusterHarness } from './cluster-harness.ts';

const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `m-${String(from + i).padStart(6, '0')}`);

describe('a cluster of node processes over NATS', () => {
  let server: NatsServer;
  before(async () => { server = await NatsServer.start(); });
  after(async () => { await server.stop(); });

  it('publish on node 1, consume on node 3, the queue on node 2: all delivered once, in order', async () => {
    const c = await ClusterHarness.create(server.url);
    try {
      await c.start({ role: 'serve', id: 'n2', queue: 'orders' });
      const consumer = await c.start({ role: 'consume', id: 'n3', queue: 'orders' });
      const producer = await c.start({ role: 'produce', id: 'n1', queue: 'orders', count: 500 });
      await until(() => consumer.got.length >= 500 && producer.exited, 'all delivered', 60_000);
      assert.deepEqual(producer.confirmed.sort(), ids(0, 500));
      assert.deepEqual(consumer.got.map((g) => g.id), ids(0, 500));
      // A client node (as `warren stats` runs) sees the queue on its leader, and the cluster's nodes.
      const client = await Warren.start({ nats: server.url, cluster: c.cluster, role: 'client' });
      try {
        // n1 finished and said goodbye before this client joined; n2 and n3 are up.
        await until(() => ['n2', 'n3'].every((n) => client.stats().nodes.some((x) => x.nodeId === n && x.up)), 'the live nodes are seen');
        const orders = (await client.clusterStats()).queues.find((q) => q.name === 'orders');
        assert.equal(orders?.leader, 'n2');
        assert.equal(orders?.published, 500);
      } finally {
        await client.stop();
      }
    } finally {
      await c.close();
    }
  });

  it('a consumer process killed with SIGKILL has its unacked messages redelivered to another consumer', async () => {
    const c = await ClusterHarness.create(server.url);
    try {
      await c.start({ role: 'serve', id: 'n2', queue: 'jobs' });
      const holder = await c.start({ role: 'consume', id: 'n3', queue: 'jobs', hold: true, prefetch: 10 });
      const producer = await c.start({ role: 'produce', id: 'n1', queue: 'jobs', count: 30 });
      await until(() => producer.exited && holder.got.length === 10, 'the holder has its prefetch', 60_000);
      await holder.kill('SIGKILL');
      const rescuer = await c.start({ role: 'consume', id: 'n4', queue: 'jobs' });
      await until(() => rescuer.got.length >= 30, 'all 30 at the second consumer', 60_000);
      const held = new Set(holder.got.map((g) => g.id));
      assert.deepEqual(rescuer.got.map((g) => g.id).sort(), ids(0, 30));
      for (const g of rescuer.got) assert.equal(g.deliveryCount, held.has(g.id) ? 2 : 1, `${g.id} delivery count`);
    } finally {
      await c.close();
    }
  });

  it('a consumer process paused past its node\'s heartbeat timeout (SIGSTOP) is forgotten, then subscribes again once it runs', async () => {
    const c = await ClusterHarness.create(server.url);
    const client = await Warren.start({ nats: server.url, cluster: c.cluster, role: 'client' });
    try {
      await c.start({ role: 'serve', id: 'n2', queue: 'naps' });
      const napper = await c.start({ role: 'consume', id: 'n3', queue: 'naps' });
      const consumers = async () => (await client.clusterStats()).queues.find((q) => q.name === 'naps')?.consumers;
      await until(async () => (await consumers()) === 1, 'the consumer is known');
      await client.publish({ queue: 'naps' }, 'x', { id: 'before' });
      await until(() => napper.got.length === 1, 'the first delivered');
      napper.signal('SIGSTOP');
      // Its heartbeats stop: the leader takes its node for down and forgets its consumer.
      await until(async () => (await consumers()) === 0, 'the paused consumer forgotten', 30_000);
      await client.publish({ queue: 'naps' }, 'x', { id: 'while' });
      napper.signal('SIGCONT');
      await until(async () => (await consumers()) === 1, 'subscribed again', 30_000);
      await client.publish({ queue: 'naps' }, 'x', { id: 'after' });
      await until(() => napper.got.length === 3, 'what came meanwhile and after, delivered', 30_000);
      assert.deepEqual(napper.got.map((g) => g.id), ['before', 'while', 'after']);
    } finally {
      await client.stop();
      await c.close();
    }
  });

  it('the NATS server restarted mid-stream: no confirmed message lost, none delivered twice to an acking consumer', async () => {
    const c = await ClusterHarness.create(server.url);
    try {
      await c.start({ role: 'serve', id: 'n2', queue: 'stream' });
      const consumer = await c.start({ role: 'consume', id: 'n3', queue: 'stream' });
      const producer = await c.start({ role: 'produce', id: 'n1', queue: 'stream', count: 3000 });
      await until(() => producer.confirmed.length >= 600, 'a fifth confirmed', 60_000);
      await server.restart();
      await until(() => producer.exited, 'the producer confirmed everything', 120_000);
      assert.equal(producer.proc.exitCode, 0, producer.stderr);
      await until(() => new Set(consumer.got.map((g) => g.id)).size >= producer.confirmed.length, 'every confirmed message delivered', 60_000);
      const delivered = consumer.got.map((g) => g.id);
      assert.deepEqual([...new Set(producer.confirmed)].sort(), ids(0, 3000));
      assert.equal(new Set(delivered).size, delivered.length, `delivered twice: ${delivered.filter((id, i) => delivered.indexOf(id) !== i).slice(0, 5)}`);
    } finally {
      await c.close();
    }
  });
});
