// purgeQueue, deleteQueue and deleteExchange on an embedded node with a real data dir: what RabbitMQ's
// queue.purge, queue.delete (if-unused, if-empty) and exchange.delete do, and that it survives a restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Warren, type ConsumerClosed, type Message } from '../index.ts';
import { exists, memoryNode, until } from './testing.ts';

async function withDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warren-delete-'));
  try {
    await test(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A test on a node with nothing on disk, stopped after it. */
const onMemoryNode = (test: (node: Warren) => Promise<void>) => async () => {
  const node = await memoryNode();
  try {
    await test(node);
  } finally {
    await node.stop();
  }
};
const queueStats = (node: Warren, name: string) => node.stats().queues.find((q) => q.name === name);

describe('purgeQueue', () => {
  it('removes the ready and delayed messages, not the unacked ones, and a restart does not bring them back', () => withDir(async (dir) => {
    const a = await Warren.start({ dataDir: dir });
    await a.declareQueue('orders');
    for (let i = 0; i < 5; i++) await a.publish({ queue: 'orders' }, `m${i}`);
    await a.publish({ queue: 'orders' }, 'later', { delayMs: 60_000 });
    const held: Message[] = [];
    await a.consume('orders', (m) => { held.push(m); }, { ack: 'manual', prefetch: 2 });
    await until(() => held.length === 2, 'two delivered');
    assert.equal(await a.purgeQueue('orders'), 4, 'three ready and one delayed');
    assert.deepEqual({ ...queueStats(a, 'orders'), rates: undefined }, { ...queueStats(a, 'orders'), ready: 0, delayed: 0, unacked: 2, rates: undefined });
    await a.publish({ queue: 'orders' }, 'after');
    await a.stop();

    const b = await Warren.start({ dataDir: dir });
    const got: Message[] = [];
    await b.consume('orders', (m) => { got.push(m); });
    await until(() => got.length === 3 && queueStats(b, 'orders')?.unacked === 0, 'the unacked two and the one published after');
    assert.deepEqual(got.map((m) => [m.text(), m.redelivered]), [['m0', true], ['m1', true], ['after', false]]);
    assert.equal(await b.purgeQueue('orders'), 0, 'an empty queue purges nothing');
    await b.stop();
  }));

  it('refuses a queue that does not exist (QueueNotFound) and a bad name (InvalidName), counted as bad input', onMemoryNode(async (node) => {
    await assert.rejects(node.purgeQueue('nothing'), { code: 'QUEUE_NOT_FOUND' });
    await assert.rejects(node.purgeQueue('bad name'), { code: 'INVALID_NAME' });
    assert.equal(node.stats().node.invalidInput, 2);
  }));
});

describe('deleteQueue', () => {
  it('removes the queue, its bindings, consumers, log folder and dedup window; resolves with what it held', () => withDir(async (dir) => {
    const a = await Warren.start({ dataDir: dir });
    await a.declareExchange('events', { type: 'topic' });
    await a.declareQueue('orders');
    await a.declareQueue('audit');
    await a.bindQueue('orders', 'events', 'order.*');
    await a.bindQueue('audit', 'events', '#');
    for (let i = 0; i < 4; i++) await a.publish({ exchange: 'events', routingKey: 'order.created' }, `m${i}`, { id: `id-${i}` });
    const held: Message[] = [];
    const consumer = await a.consume('orders', (m) => { held.push(m); }, { ack: 'manual', prefetch: 1 });
    await until(() => held.length === 1, 'one delivered');
    const folder = path.join(dir, 'queues', 'orders');
    assert.ok(await exists(folder));

    assert.equal(await a.deleteQueue('orders'), 4, 'three ready and one unacked');
    assert.deepEqual(await consumer.closed, { reason: 'deleted' } satisfies ConsumerClosed);
    assert.equal(await exists(folder), false, 'its log is gone from disk');
    assert.equal(queueStats(a, 'orders'), undefined);
    await assert.rejects(a.publish({ queue: 'orders' }, 'x'), { code: 'QUEUE_NOT_FOUND' });
    await assert.rejects(a.consume('orders', () => {}), { code: 'QUEUE_NOT_FOUND' });
    await assert.rejects(a.purgeQueue('orders'), { code: 'QUEUE_NOT_FOUND' });
    assert.equal((await a.publish({ exchange: 'events', routingKey: 'order.created' }, 'y')).routed, 1, 'its binding went with it; audit still bound');
    await held[0]!.ack(); // the message went with the queue: the ack goes nowhere, and fails nothing
    assert.equal(await a.deleteQueue('orders'), 0, 'deleting it again: nothing to delete');
    await a.stop();

    const b = await Warren.start({ dataDir: dir });
    assert.equal(queueStats(b, 'orders'), undefined, 'still gone after a restart');
    assert.equal(await exists(folder), false);
    await assert.rejects(b.publish({ queue: 'orders' }, 'x'), { code: 'QUEUE_NOT_FOUND' });
    // Declared again: a new, empty queue, whose dedup window does not know the old ids.
    await b.declareQueue('orders');
    assert.deepEqual(await b.publish({ queue: 'orders' }, 'again', { id: 'id-0' }), { id: 'id-0', duplicate: false, routed: 1 });
    assert.equal(queueStats(b, 'orders')?.ready, 1);
    assert.equal((await b.publish({ exchange: 'events', routingKey: 'order.created' }, 'z')).routed, 1, 'not bound again by itself');
    await b.stop();
  }));

  it('ifUnused refuses while it has consumers, ifEmpty while it holds messages (PreconditionFailed), and the queue stays whole', onMemoryNode(async (node) => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'one');
    await assert.rejects(node.deleteQueue('q', { ifEmpty: true }), { code: 'PRECONDITION_FAILED', message: /holds 1 message/ });
    const consumer = await node.consume('q', () => {});
    await until(() => queueStats(node, 'q')?.ready === 0 && queueStats(node, 'q')?.unacked === 0, 'consumed');
    await assert.rejects(node.deleteQueue('q', { ifUnused: true }), { code: 'PRECONDITION_FAILED', message: /1 consumer/ });
    await node.publish({ queue: 'q' }, 'two');
    await until(() => queueStats(node, 'q')?.acked === 2, 'the queue still serves its consumer');
    await consumer.cancel();
    assert.equal(await node.deleteQueue('q', { ifUnused: true, ifEmpty: true }), 0);
    assert.equal(node.stats().node.invalidInput, 0, 'a failed precondition is no bad input');
  }));

  it('refuses bad names and options (InvalidName, InvalidArgument), counted as bad input', onMemoryNode(async (node) => {
    await assert.rejects(node.deleteQueue('a..b'), { code: 'INVALID_NAME' });
    await assert.rejects(node.deleteQueue('q', { ifUnused: 'yes' } as never), { code: 'INVALID_ARGUMENT', message: /ifUnused/ });
    await assert.rejects(node.deleteQueue('q', { force: true } as never), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(node.deleteExchange('', {}), { code: 'INVALID_NAME' });
    await assert.rejects(node.deleteExchange('x', { ifEmpty: true } as never), { code: 'INVALID_ARGUMENT' });
    assert.equal(node.stats().node.invalidInput, 5);
  }));

  it('a dead-letter queue that others point to can be deleted: the next dead letter declares a fresh one', onMemoryNode(async (node) => {
    await node.declareQueue('work', { deadLetterQueue: 'work.failed' });
    await node.publish({ queue: 'work' }, 'bad-1');
    const c = await node.consume('work', (m) => m.reject(), { ack: 'manual' });
    await until(() => queueStats(node, 'work.failed')?.ready === 1, 'the first dead letter');
    assert.equal(await node.deleteQueue('work.failed'), 1);
    await node.publish({ queue: 'work' }, 'bad-2');
    await until(() => queueStats(node, 'work.failed')?.ready === 1, 'the second dead letter, in a fresh dead-letter queue');
    await c.cancel();
  }));

  it('closes a pull consumer: its loop ends', onMemoryNode(async (node) => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'one');
    const seen: string[] = [];
    const loop = (async () => { for await (const m of node.messages('q')) seen.push(m.text()); })();
    await until(() => seen.length === 1, 'the first message');
    assert.equal(await node.deleteQueue('q'), 1, 'the unacked one');
    await loop;
  }));
});

describe('deleteExchange', () => {
  it('removes the exchange and its bindings; ifUnused refuses while it has bindings; gone after a restart', () => withDir(async (dir) => {
    const a = await Warren.start({ dataDir: dir });
    await a.declareExchange('events', { type: 'fanout' });
    await a.declareQueue('q');
    await a.bindQueue('q', 'events');
    await assert.rejects(a.deleteExchange('events', { ifUnused: true }), { code: 'PRECONDITION_FAILED', message: /1 binding/ });
    assert.equal((await a.publish({ exchange: 'events' }, 'x')).routed, 1);
    await a.deleteExchange('events');
    await assert.rejects(a.publish({ exchange: 'events' }, 'x'), { code: 'EXCHANGE_NOT_FOUND' });
    await a.deleteExchange('events');
    assert.equal(queueStats(a, 'q')?.ready, 1, 'the queue stays, with its messages');
    await a.stop();

    const b = await Warren.start({ dataDir: dir });
    await assert.rejects(b.publish({ exchange: 'events' }, 'x'), { code: 'EXCHANGE_NOT_FOUND' });
    // Declared again with another type: a new exchange, without the old bindings.
    await b.declareExchange('events', { type: 'direct' });
    assert.equal((await b.publish({ exchange: 'events', routingKey: '' }, 'x')).routed, 0);
    await b.declareExchange('unbound', { type: 'topic' });
    await b.deleteExchange('unbound', { ifUnused: true });
    await b.stop();
  }));
});
