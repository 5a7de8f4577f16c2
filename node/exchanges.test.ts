import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Warren } from '../index.ts';
import { memoryNode, until } from './testing.ts';

describe('exchanges and bindings', () => {
  let node: Warren;
  beforeEach(async () => { node = await memoryNode(); });
  afterEach(async () => { await node.stop(); });

  async function collect(queue: string): Promise<string[]> {
    const got: string[] = [];
    await node.consume(queue, (m) => { got.push(m.text()); });
    return got;
  }

  it('direct routes by exact key', async () => {
    await node.declareExchange('d', { type: 'direct' });
    await node.declareQueue('eu');
    await node.declareQueue('us');
    await node.bindQueue('eu', 'd', 'eu');
    await node.bindQueue('us', 'd', 'us');
    const eu = await collect('eu');
    const us = await collect('us');
    await node.publish({ exchange: 'd', routingKey: 'eu' }, 'to-eu');
    await node.publish({ exchange: 'd', routingKey: 'us' }, 'to-us');
    await until(() => eu.length + us.length === 2, 'routed');
    assert.deepEqual([eu, us], [['to-eu'], ['to-us']]);
  });

  it('fanout copies to every bound queue, one confirm for all', async () => {
    await node.declareExchange('f', { type: 'fanout' });
    for (const q of ['a', 'b', 'c']) { await node.declareQueue(q); await node.bindQueue(q, 'f'); }
    const r = await node.publish({ exchange: 'f', routingKey: 'ignored' }, 'all');
    assert.equal(r.routed, 3);
    const stats = node.stats().queues;
    assert.deepEqual(stats.map((q) => q.ready), [1, 1, 1]);
  });

  it("topic routes with '*' and '#', and a queue bound twice gets one copy", async () => {
    await node.declareExchange('t', { type: 'topic' });
    await node.declareQueue('orders');
    await node.declareQueue('audit');
    await node.bindQueue('orders', 't', 'order.*');
    await node.bindQueue('audit', 't', '#');
    await node.bindQueue('audit', 't', 'order.#');
    const orders = await collect('orders');
    const audit = await collect('audit');
    await node.publish({ exchange: 't', routingKey: 'order.created' }, 'o1');
    await node.publish({ exchange: 't', routingKey: 'order.created.eu' }, 'o2');
    await node.publish({ exchange: 't', routingKey: 'user.signup' }, 'u1');
    await until(() => audit.length === 3, 'audit sees all');
    assert.deepEqual(orders, ['o1']);
    assert.deepEqual(audit, ['o1', 'o2', 'u1']);
  });

  it('a new queue binds later and gets new messages; the producer code does not change', async () => {
    await node.declareExchange('events', { type: 'topic' });
    await node.declareQueue('billing');
    await node.bindQueue('billing', 'events', 'order.*');
    const produce = (n: number) => node.publish({ exchange: 'events', routingKey: 'order.created' }, `o${n}`);
    await produce(1);
    await node.declareQueue('analytics');
    await node.bindQueue('analytics', 'events', '#');
    await produce(2);
    const stats = Object.fromEntries(node.stats().queues.map((q) => [q.name, q.ready]));
    assert.deepEqual(stats, { billing: 2, analytics: 1 });
  });

  it('unroutable messages are confirmed with routed 0 and counted; unbind stops routing', async () => {
    await node.declareExchange('t', { type: 'topic' });
    await node.declareQueue('q');
    await node.bindQueue('q', 't', 'a.*');
    assert.equal((await node.publish({ exchange: 't', routingKey: 'b.x' }, 'lost?')).routed, 0);
    await node.unbindQueue('q', 't', 'a.*');
    assert.equal((await node.publish({ exchange: 't', routingKey: 'a.x' }, 'x')).routed, 0);
    assert.equal(node.stats().node.unroutable, 2);
  });

  it('redeclaring an exchange with another type is PreconditionFailed', async () => {
    await node.declareExchange('x', { type: 'direct' });
    await assert.rejects(node.declareExchange('x', { type: 'topic' }), { code: 'PRECONDITION_FAILED' });
  });
});
