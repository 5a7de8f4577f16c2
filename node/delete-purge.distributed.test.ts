// purgeQueue, deleteQueue and deleteExchange in distributed mode: two nodes on a nats-server of the
// test's own; the queue lives on one, the calls come from the other (the control requests of the
// remote protocol), and both nodes see the result.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { NotConfirmed, type Message } from '../index.ts';
import { exists, testCluster, until } from './testing.ts';

describe('purge and delete across nodes', () => {
  const cluster = testCluster('del');
  const { start } = cluster;

  it('a node purges and deletes a queue that lives on another; both see it gone, with its bindings and consumers', async () => {
    const [a, b] = [await start('a'), await start('b')];
    try {
      await a.declareExchange('events', { type: 'fanout' });
      await a.declareQueue('orders');
      await a.bindQueue('orders', 'events');
      // b learns of the binding through the catalog's watch: until then its publish routes nowhere.
      await until(async () => (await b.publish({ exchange: 'events' }, 'm0', { id: 'id-0' }).catch(() => undefined))?.routed === 1, 'b routes through the binding');
      for (let i = 1; i < 5; i++) await b.publish({ exchange: 'events' }, `m${i}`, { id: `id-${i}` });
      const held: Message[] = [];
      const remote = await b.consume('orders', (m) => { held.push(m); }, { ack: 'manual', prefetch: 1 });
      const local = await a.consume('orders', () => new Promise(() => {}), { prefetch: 1 });
      const orders = () => a.stats().queues.find((q) => q.name === 'orders');
      await until(() => held.length === 1 && orders()?.unacked === 2, 'one message with each consumer');

      assert.equal(await b.purgeQueue('orders'), 3, 'the ready ones; the two unacked stay');
      assert.equal(orders()?.ready, 0);
      assert.equal(orders()?.unacked, 2);
      await assert.rejects(b.deleteQueue('orders', { ifUnused: true }), { code: 'PRECONDITION_FAILED' });
      await assert.rejects(b.deleteQueue('orders', { ifEmpty: true }), { code: 'PRECONDITION_FAILED' });
      assert.equal(orders()?.consumers, 2, 'a refused delete leaves the queue as it was');

      assert.equal(await b.deleteQueue('orders'), 2);
      assert.deepEqual(await remote.closed, { reason: 'deleted' });
      assert.deepEqual(await local.closed, { reason: 'deleted' });
      assert.equal(orders(), undefined);
      assert.equal(await exists(path.join(cluster.dir, 'a', 'queues', 'orders')), false, 'its log is gone from the disk of its node');
      await assert.rejects(b.publish({ queue: 'orders' }, 'x'), { code: 'QUEUE_NOT_FOUND' });
      await assert.rejects(b.purgeQueue('orders'), { code: 'QUEUE_NOT_FOUND' });
      await assert.rejects(a.publish({ queue: 'orders' }, 'x'), { code: 'QUEUE_NOT_FOUND' });
      assert.equal((await b.publish({ exchange: 'events' }, 'x')).routed, 0, 'its binding is gone');
      assert.equal(await a.deleteQueue('orders'), 0, 'already deleted');

      // Declared again, from the other node: a new, empty queue there, whose dedup window is new.
      await b.declareQueue('orders');
      assert.deepEqual(await a.publish({ queue: 'orders' }, 'again', { id: 'id-0' }), { id: 'id-0', duplicate: false, routed: 1 });
      assert.equal(b.stats().queues.find((q) => q.name === 'orders')?.ready, 1);
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  it('an exchange deleted on one node is gone on the other; ifUnused refuses while it has bindings', async () => {
    const [a, b] = [await start('c'), await start('d')];
    try {
      await a.declareExchange('audit', { type: 'topic' });
      await a.declareQueue('trail');
      await a.bindQueue('trail', 'audit', 'k');
      await until(async () => (await b.publish({ exchange: 'audit', routingKey: 'k' }, 'x').catch(() => undefined))?.routed === 1, 'b routes through it');
      await assert.rejects(b.deleteExchange('audit', { ifUnused: true }), { code: 'PRECONDITION_FAILED' });
      await b.deleteExchange('audit');
      // a's probe matches no binding, so that it adds nothing to the queue while a still sees the exchange.
      await until(() => a.publish({ exchange: 'audit', routingKey: 'other' }, 'x').then(() => false, (e: { code?: string }) => e.code === 'EXCHANGE_NOT_FOUND'), 'a sees it gone');
      assert.equal(a.stats().queues.find((q) => q.name === 'trail')?.ready, 1, 'the queue stays');
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  it('a bind that races with the delete of its exchange or of its queue leaves no binding behind', async () => {
    const [a, b] = [await start('ra'), await start('rb')];
    const routes = async (node: typeof a, exchange: string) => (await node.publish({ exchange }, 'probe')).routed;
    try {
      for (let i = 0; i < 8; i++) {
        const [x, q] = [`x${i}`, `q${i}`];
        await a.declareExchange(x, { type: 'fanout' });
        await a.declareQueue(q);
        const [bound] = await Promise.allSettled([b.bindQueue(q, x), a.deleteExchange(x)]);
        if (bound.status === 'rejected') assert.equal((bound.reason as { code?: string }).code, 'EXCHANGE_NOT_FOUND');
        await a.declareExchange(x, { type: 'fanout' });
        for (const node of [a, b]) await until(async () => (await routes(node, x)) === 0, `the new exchange ${x} has no binding of the old one`);

        const [boundToGone] = await Promise.allSettled([b.bindQueue(q, x), a.deleteQueue(q)]);
        if (boundToGone.status === 'rejected') assert.equal((boundToGone.reason as { code?: string }).code, 'QUEUE_NOT_FOUND');
        await a.declareQueue(q);
        for (const node of [a, b]) await until(async () => (await routes(node, x)) === 0, `exchange ${x} has no binding to the deleted ${q}`);
      }
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  it("a purge or a delete is sent once: with the queue's node down it is refused at once as NotConfirmed (a purge sent again would remove what came in between)", async () => {
    const [a, b] = [await start('pa'), await start('pb')];
    let aUp = true;
    try {
      await a.declareQueue('lonely');
      await until(async () => (await b.publish({ queue: 'lonely' }, 'x').catch(() => undefined)) !== undefined, 'b reaches the queue');
      await a.stop();
      aUp = false;
      await assert.rejects(b.purgeQueue('lonely'), (e: unknown) => e instanceof NotConfirmed && /no answer to purge/.test(e.message));
      await assert.rejects(b.deleteQueue('lonely'), (e: unknown) => e instanceof NotConfirmed && /no answer to delete/.test(e.message));
    } finally {
      await b.stop();
      if (aUp) await a.stop();
    }
  });
});
