import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Overflow, type Message, type Warren } from '../index.ts';
import { memoryNode, testCluster, texts, until } from './testing.ts';

describe('queue features', () => {
  let node: Warren;
  beforeEach(async () => { node = await memoryNode(); });
  afterEach(async () => { await node.stop(); });
  const stat = (name: string) => node.stats().queues.find((q) => q.name === name)!;

  it('producer dedup: a retried publish with the same id is confirmed as duplicate and stored once', async () => {
    await node.declareQueue('q');
    const a = await node.publish({ queue: 'q' }, 'once', { id: 'order-42' });
    const b = await node.publish({ queue: 'q' }, 'once', { id: 'order-42' });
    assert.deepEqual([a.duplicate, b.duplicate], [false, true]);
    assert.equal(stat('q').ready, 1);
    assert.equal(stat('q').duplicates, 1);
  });

  it('message TTL: expired messages are dropped, or dead-lettered when a dead-letter queue is set', async () => {
    await node.declareQueue('short', { messageTtlMs: 20 });
    await node.declareQueue('short-dl', { messageTtlMs: 20, deadLetterQueue: 'expired' });
    await node.publish({ queue: 'short' }, 'x');
    await node.publish({ queue: 'short-dl' }, 'y');
    await until(() => stat('short').expired === 1 && stat('short-dl').expired === 1, 'expiry');
    assert.equal(stat('short').ready, 0);
    const dead: Message[] = [];
    await node.consume('expired', (m) => { dead.push(m); });
    await until(() => dead.length === 1, 'expired dead letter');
    assert.equal(dead[0]!.headers['x-death-reason'], 'expired');
  });

  it("a message's own TTL: the lower of it and the queue's applies; one expired behind the head is never delivered", async () => {
    await node.declareQueue('plain', { deadLetterQueue: 'gone' });
    await node.declareQueue('long', { messageTtlMs: 600_000 });
    await node.declareQueue('brief', { messageTtlMs: 20 });
    await node.publish({ queue: 'plain' }, 'keeps');
    await node.publish({ queue: 'plain' }, 'expires', { ttlMs: 20 });
    await node.publish({ queue: 'long' }, 'x', { ttlMs: 20 });
    await node.publish({ queue: 'brief' }, 'y', { ttlMs: 600_000 });
    await until(() => stat('long').expired === 1 && stat('brief').expired === 1, 'the shorter TTL in each queue');
    // 'expires' waits behind a head without a TTL (as in RabbitMQ), but dispatch never hands it out late.
    await new Promise((r) => setTimeout(r, 40));
    const got: string[] = [];
    await node.consume('plain', (m) => { got.push(m.text()); });
    const dead: Message[] = [];
    await node.consume('gone', (m) => { dead.push(m); });
    await until(() => got.length === 1 && dead.length === 1, 'the live one delivered, the expired one dead-lettered');
    assert.deepEqual(got, ['keeps']);
    assert.equal(dead[0]!.text(), 'expires');
    assert.equal(dead[0]!.headers['x-death-reason'], 'expired');
    assert.equal(stat('plain').expired, 1);
    for (const ttlMs of [0, -1, 1.5, '20', Number.NaN]) {
      await assert.rejects(node.publish({ queue: 'plain' }, 'bad', { ttlMs } as never), { code: 'INVALID_ARGUMENT' }, `ttlMs ${String(ttlMs)}`);
    }
  });

  it('a TTL or a delay of weeks waits quietly (past the longest timeout Node takes)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => { warnings.push(w.name); };
    process.on('warning', onWarning);
    try {
      const month = 30 * 24 * 3_600_000;
      await node.declareQueue('month', { messageTtlMs: month });
      await node.publish({ queue: 'month' }, 'kept');
      await node.publish({ queue: 'month' }, 'later', { delayMs: month });
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual([stat('month').ready, stat('month').delayed, stat('month').expired], [1, 1, 0]);
      assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a dead letter that its full dead-letter queue refuses waits in its queue, and moves once there is room', async () => {
    await node.declareQueue('dead', { maxLength: 1 });
    await node.declareQueue('work', { deadLetterQueue: 'dead' });
    await node.publish({ queue: 'dead' }, 'already dead');
    await node.publish({ queue: 'work' }, 'rejected', { id: 'r-1' });
    await node.consume('work', (m) => m.reject(), { ack: 'manual' });
    const errors: Error[] = [];
    node.onError((e) => errors.push(e));
    await until(() => errors.some((e) => e instanceof Overflow), 'the move refused');
    const dead: string[] = [];
    await node.consume('dead', (m) => { dead.push(m.text()); });
    await until(() => dead.length === 2, 'the dead letter moved');
    assert.deepEqual(dead, ['already dead', 'rejected']);
    await until(() => stat('work').ready + stat('work').unacked === 0 && stat('work').deadLettered === 1, 'gone from its queue');
  });

  it("maxLength with 'reject-publish' refuses with Overflow", async () => {
    await node.declareQueue('q', { maxLength: 2 });
    await node.publish({ queue: 'q' }, 'a');
    await node.publish({ queue: 'q' }, 'b');
    await assert.rejects(node.publish({ queue: 'q' }, 'c'), Overflow);
    assert.equal(stat('q').ready, 2);
  });

  it("maxLength with 'drop-head' and 'dead-letter-head' make room at the head", async () => {
    await node.declareQueue('drop', { maxLength: 2, overflow: 'drop-head' });
    await node.declareQueue('dl', { maxLength: 2, overflow: 'dead-letter-head', deadLetterQueue: 'dl-dead' });
    for (const t of texts(4)) {
      await node.publish({ queue: 'drop' }, t);
      await node.publish({ queue: 'dl' }, t);
    }
    const kept: string[] = [];
    await node.consume('drop', (m) => { kept.push(m.text()); });
    await until(() => kept.length === 2, 'kept');
    assert.deepEqual(kept, ['m2', 'm3']);
    assert.equal(stat('drop').dropped, 2);
    const dead: string[] = [];
    await node.consume('dl-dead', (m) => { dead.push(`${m.text()}:${m.headers['x-death-reason']}`); });
    await until(() => dead.length === 2, 'dead-lettered heads');
    assert.deepEqual(dead, ['m0:maxlen', 'm1:maxlen']);

    // With maxLength 0 the message just published is the head: dropped, or dead-lettered, and confirmed.
    await node.declareQueue('none', { maxLength: 0, overflow: 'drop-head' });
    await node.declareQueue('none-dl', { maxLength: 0, overflow: 'dead-letter-head', deadLetterQueue: 'dl-dead' });
    assert.equal((await node.publish({ queue: 'none' }, 'gone')).routed, 1);
    await node.publish({ queue: 'none-dl' }, 'straight through');
    await until(() => dead.length === 3, 'the new head dead-lettered');
    assert.equal(dead[2], 'straight through:maxlen');
    assert.deepEqual([stat('none').ready, stat('none').dropped, stat('none-dl').ready], [0, 1, 0]);
  });

  it('delayed delivery: a message published with delayMs comes after those without', async () => {
    await node.declareQueue('q');
    // Long enough that no stall of a loaded machine makes it ready before the other is published and consumed.
    await node.publish({ queue: 'q' }, 'later', { delayMs: 1_000 });
    await node.publish({ queue: 'q' }, 'now');
    assert.equal(stat('q').delayed, 1);
    const got: string[] = [];
    await node.consume('q', (m) => { got.push(m.text()); });
    await until(() => got.length === 2, 'both');
    assert.deepEqual(got, ['now', 'later']);
  });

  it('priority: higher priority first, FIFO within a priority', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'low-1', { priority: 1 });
    await node.publish({ queue: 'q' }, 'high-1', { priority: 9 });
    await node.publish({ queue: 'q' }, 'low-2', { priority: 1 });
    await node.publish({ queue: 'q' }, 'high-2', { priority: 9 });
    const got: string[] = [];
    await node.consume('q', (m) => { got.push(m.text()); });
    await until(() => got.length === 4, 'all');
    assert.deepEqual(got, ['high-1', 'high-2', 'low-1', 'low-2']);
  });

  it('single active consumer: one consumer gets everything; the next takes over when it leaves', async () => {
    await node.declareQueue('q', { singleActiveConsumer: true });
    const a: string[] = [];
    const b: string[] = [];
    const ca = await node.consume('q', (m) => { a.push(m.text()); });
    await node.consume('q', (m) => { b.push(m.text()); });
    for (const t of texts(5)) await node.publish({ queue: 'q' }, t);
    await until(() => a.length === 5, 'a has all');
    await ca.cancel();
    for (const t of texts(3, 'n')) await node.publish({ queue: 'q' }, t);
    await until(() => b.length === 3, 'b took over');
    assert.deepEqual(b, texts(3, 'n'));
  });

  it('competing consumers share the work round-robin', async () => {
    await node.declareQueue('q');
    const a: string[] = [];
    const b: string[] = [];
    await node.consume('q', (m) => { a.push(m.text()); }, { prefetch: 1 });
    await node.consume('q', (m) => { b.push(m.text()); }, { prefetch: 1 });
    await Promise.all(texts(20).map((t) => node.publish({ queue: 'q' }, t)));
    await until(() => a.length + b.length === 20, 'all consumed');
    assert.ok(a.length > 0 && b.length > 0);
    assert.deepEqual([...a, ...b].sort(), texts(20).sort());
  });

  it('redeclaring a queue with the same options is a no-op, with other options PreconditionFailed', async () => {
    await node.declareQueue('q', { maxDeliveries: 5 });
    await node.declareQueue('q', { maxDeliveries: 5 });
    await assert.rejects(node.declareQueue('q', { maxDeliveries: 6 }), { code: 'PRECONDITION_FAILED' });
    // Refused, it changes nothing: the dead-letter queue it names is not declared either.
    await assert.rejects(node.declareQueue('q', { maxDeliveries: 6, deadLetterQueue: 'q.parking' }), { code: 'PRECONDITION_FAILED' });
    assert.deepEqual(node.stats().queues.map((x) => x.name), ['q']);
  });
});

describe('queue features across nodes', () => {
  const { start } = testCluster('features');

  it("a message's delay and own TTL travel with it to the node that holds its queue", async () => {
    const [a, b] = [await start('a'), await start('b', 'client')];
    try {
      await a.declareQueue('remote', { deadLetterQueue: 'remote-gone' });
      await b.publish({ queue: 'remote' }, 'expires', { ttlMs: 20 });
      await b.publish({ queue: 'remote' }, 'later', { delayMs: 30 });
      const stat = (name: string) => a.stats().queues.find((q) => q.name === name);
      await until(() => stat('remote')?.expired === 1, 'expired on its node');
      const got: string[] = [];
      await b.consume('remote', (m) => { got.push(m.text()); });
      await until(() => got.length === 1 && stat('remote-gone')?.ready === 1, 'the delayed one delivered, the expired one dead-lettered');
      assert.deepEqual(got, ['later']);

      // A remote loop that takes one message and leaves gives back the rest uncounted.
      await a.declareQueue('jobs', { maxDeliveries: 2 });
      for (const t of texts(4)) await b.publish({ queue: 'jobs' }, t);
      const taken: [string, number][] = [];
      for (let round = 0; round < 3; round++) {
        for await (const m of b.messages('jobs', { prefetch: 4 })) {
          taken.push([m.text(), m.deliveryCount]);
          await m.ack();
          break;
        }
      }
      assert.deepEqual(taken, [['m0', 1], ['m1', 1], ['m2', 1]]);

      // A body and headers too big for one NATS message together are refused, a content-type too (one
      // of the node's own alone fits in the frame's room).
      const half = new Uint8Array(600 * 1024);
      await assert.rejects(b.publish({ queue: 'jobs' }, half, { headers: { 'content-type': 'x'.repeat(600 * 1024) } }), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(b.publish({ queue: 'jobs' }, half, { headers: { other: 'x'.repeat(600 * 1024) } }), { code: 'INVALID_ARGUMENT' });
      assert.equal((await b.publish({ queue: 'jobs' }, half, { headers: { 'content-type': 'application/octet-stream' } })).routed, 1);
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
