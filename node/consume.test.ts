import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { PreconditionFailed, type ConsumerClosed, type Message, type Warren } from '../index.ts';
import { memoryNode, texts, until } from './testing.ts';

describe('publish and consume', () => {
  let node: Warren;
  beforeEach(async () => { node = await memoryNode(); });
  afterEach(async () => { await node.stop(); });

  it('delivers in FIFO order, with confirms and auto ack', async () => {
    await node.declareQueue('q');
    for (const t of texts(50)) await node.publish({ queue: 'q' }, t);
    const got: string[] = [];
    await node.consume('q', (m) => { got.push(m.text()); });
    await until(() => got.length === 50, '50 messages');
    assert.deepEqual(got, texts(50));
    await until(() => node.stats().queues[0]!.acked === 50, 'acks');
    assert.equal(node.stats().queues[0]!.ready, 0);
  });

  it('carries bodies as bytes, text and JSON, with headers', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, new Uint8Array([1, 2, 3]), { headers: { kind: 'bytes' } });
    await node.publish({ queue: 'q' }, 'hello');
    await node.publish({ queue: 'q' }, { order: 7, items: ['a'] });
    const got: Message[] = [];
    await node.consume('q', (m) => { got.push(m); });
    await until(() => got.length === 3, '3 messages');
    assert.deepEqual([...got[0]!.body], [1, 2, 3]);
    assert.equal(got[0]!.headers.kind, 'bytes');
    assert.equal(got[1]!.text(), 'hello');
    assert.deepEqual(got[2]!.json(), { order: 7, items: ['a'] });
    assert.equal(got[2]!.headers['content-type'], 'application/json');
  });

  it('never has more unacked messages at a consumer than its prefetch', async () => {
    await node.declareQueue('q');
    await Promise.all(texts(200).map((t) => node.publish({ queue: 'q' }, t)));
    const held: Message[] = [];
    let maxHeld = 0;
    await node.consume('q', (m) => { held.push(m); maxHeld = Math.max(maxHeld, held.length); }, { ack: 'manual', prefetch: 7 });
    let acked = 0;
    while (acked < 200) {
      await until(() => held.length > 0, 'a delivery');
      const m = held.shift()!;
      await m.ack();
      acked++;
    }
    assert.equal(maxHeld, 7);
    await until(() => node.stats().queues[0]!.acked === 200, 'all acks reach the queue');
  });

  it('nack requeues to the original place in line and counts the delivery', async () => {
    await node.declareQueue('q');
    for (const t of texts(3)) await node.publish({ queue: 'q' }, t);
    const seen: string[] = [];
    let nacked = false;
    await node.consume('q', async (m) => {
      seen.push(`${m.text()}#${m.deliveryCount}${m.redelivered ? 'r' : ''}`);
      if (m.text() === 'm0' && !nacked) { nacked = true; await m.nack(); } else await m.ack();
    }, { ack: 'manual', prefetch: 1 });
    await until(() => seen.length === 4, '4 deliveries');
    assert.deepEqual(seen, ['m0#1', 'm0#2r', 'm1#1', 'm2#1']);
  });

  it('nack with delayMs redelivers later, after the messages behind it', async () => {
    await node.declareQueue('q');
    for (const t of texts(3)) await node.publish({ queue: 'q' }, t);
    const seen: string[] = [];
    await node.consume('q', async (m) => {
      seen.push(m.text());
      if (m.text() === 'm0' && m.deliveryCount === 1) await m.nack({ delayMs: 50 }); else await m.ack();
    }, { ack: 'manual' });
    await until(() => seen.length === 4, '4 deliveries');
    assert.deepEqual(seen, ['m0', 'm1', 'm2', 'm0']);
  });

  it('redelivers unacked messages when a consumer is cancelled, flagged redelivered', async () => {
    await node.declareQueue('q');
    for (const t of texts(5)) await node.publish({ queue: 'q' }, t);
    const first: Message[] = [];
    const c1 = await node.consume('q', (m) => { first.push(m); }, { ack: 'manual', prefetch: 5 });
    await until(() => first.length === 5, 'first consumer holds 5');
    await first[0]!.ack();
    await c1.cancel();
    const second: Message[] = [];
    await node.consume('q', (m) => { second.push(m); });
    await until(() => second.length === 4, 'redelivered 4');
    assert.deepEqual(second.map((m) => m.text()), ['m1', 'm2', 'm3', 'm4']);
    assert.ok(second.every((m) => m.redelivered && m.deliveryCount === 2));
  });

  it('a consumer actor that crashes and stops gets its unacked messages redelivered to another consumer', async () => {
    await node.declareQueue('q');
    for (const t of texts(4)) await node.publish({ queue: 'q' }, t);
    const held: Message[] = [];
    const crashing = await node.consume('q', (m) => {
      held.push(m);
      if (held.length === 3) throw new Error('crash');
    }, { ack: 'manual', prefetch: 4, supervision: { decide: () => 'stop' } });
    const closed = await crashing.closed;
    assert.equal(closed.reason, 'failed');
    const other: Message[] = [];
    await node.consume('q', async (m) => { other.push(m); });
    await until(() => other.length === 3, 'the rest redelivered');
    // The message it crashed on is dead-lettered ('stop'); the ones it held unacked come back.
    assert.deepEqual(other.map((m) => m.text()).sort(), ['m0', 'm1', 'm3']);
    assert.ok(other.filter((m) => m.text() !== 'm3').every((m) => m.redelivered));
    await until(() => node.stats().queues.some((q) => q.name === 'q.dlq' && q.ready === 1), 'crash message dead-lettered');
  });

  it('a consumer whose handler escalates dead-letters each message and goes on: its supervisor restarts it after a backoff, and never gives it up', async () => {
    await node.declareQueue('q');
    for (const t of texts(4)) await node.publish({ queue: 'q' }, t);
    const consumer = await node.consume('q', () => { throw new Error('downstream gone'); }, { supervision: { decide: () => 'escalate' } });
    await until(() => node.stats().queues.find((q) => q.name === 'q.dlq')?.ready === 4, 'the 4 messages dead-lettered', 30_000);
    await node.publish({ queue: 'q' }, 'one more');
    await until(() => node.stats().queues.find((q) => q.name === 'q.dlq')?.ready === 5, 'the consumer still handles messages', 30_000);
    assert.equal(await Promise.race([consumer.closed.then(() => 'closed'), new Promise((r) => setImmediate(() => r('open')))]), 'open');
  });

  it('a consumer is cancelled at once while its supervisor backs off before restarting it, and the node stops', async () => {
    await node.declareQueue('q');
    for (const t of texts(20)) await node.publish({ queue: 'q' }, t);
    let escalations = 0;
    node.onError(() => { escalations++; });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const consumer = await node.consume('q', () => { throw new Error('downstream gone'); }, { supervision: { decide: () => 'escalate' } });
      await until(() => escalations >= 4, 'the consumer escalated again and again', 30_000);
      await consumer.cancel();
      assert.deepEqual(await consumer.closed, { reason: 'cancelled' });
      // The supervisor's backoff (at most 800 ms after the 4th escalation) ends with its child gone.
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(unhandled, []);
      assert.equal(node.stats().queues.find((q) => q.name === 'q')!.consumers, 0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a handler that fails for every message for a while (a downstream outage) trips restart intensity: the consumer pauses and tries again, dead-letters nothing, and handles every message once the outage ends', async () => {
    await node.declareQueue('q', { maxDeliveries: 20 });
    for (const t of texts(30)) await node.publish({ queue: 'q' }, t);
    let failures = 0;
    const handled = new Set<string>();
    const consumer = await node.consume('q', (m) => {
      // Past the default intensity (10 restarts in 10 s): the actor escalated at least once.
      if (failures < 15) { failures++; throw new Error('database unreachable'); }
      handled.add(m.text());
    }, { retry: { backoffMs: 1, maxBackoffMs: 10 } });
    await until(() => handled.size === 30, 'every message handled after the outage', 30_000);
    assert.equal(node.stats().queues.find((q) => q.name === 'q.dlq')?.ready ?? 0, 0, 'nothing dead-lettered before its delivery limit');
    assert.equal(await Promise.race([consumer.closed.then(() => 'closed'), new Promise((r) => setImmediate(() => r('open')))]), 'open');
  });

  it('a throwing handler gets its message redelivered with backoff until it succeeds', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'flaky');
    const counts: number[] = [];
    await node.consume('q', (m) => {
      counts.push(m.deliveryCount);
      if (m.deliveryCount < 3) throw new Error('transient');
    }, { retry: { backoffMs: 1, maxBackoffMs: 5 } });
    await until(() => node.stats().queues[0]!.acked === 1, 'finally acked');
    assert.deepEqual(counts, [1, 2, 3]);
  });

  it("supervision 'resume' acks the failed message and goes on", async () => {
    await node.declareQueue('q');
    for (const t of texts(3)) await node.publish({ queue: 'q' }, t);
    const seen: string[] = [];
    await node.consume('q', (m) => { seen.push(m.text()); if (m.text() === 'm1') throw new Error('skip me'); }, { supervision: { decide: () => 'resume' } });
    await until(() => node.stats().queues[0]!.acked === 3, '3 acked');
    assert.deepEqual(seen, texts(3));
  });

  it('a poison message lands in the dead-letter queue after maxDeliveries', async () => {
    await node.declareQueue('q', { maxDeliveries: 4, deadLetterQueue: 'poison' });
    await node.publish({ queue: 'q' }, 'poison-pill', { id: 'pp-1' });
    let attempts = 0;
    await node.consume('q', () => { attempts++; throw new Error('always'); }, { retry: { backoffMs: 1, maxBackoffMs: 2 } });
    const dead: Message[] = [];
    await node.consume('poison', (m) => { dead.push(m); });
    await until(() => dead.length === 1, 'dead letter');
    assert.equal(attempts, 4);
    assert.equal(dead[0]!.id, 'pp-1');
    assert.equal(dead[0]!.text(), 'poison-pill');
    assert.equal(dead[0]!.headers['x-death-reason'], 'delivery-limit');
    assert.equal(dead[0]!.headers['x-death-queue'], 'q');
    const q = node.stats().queues.find((s) => s.name === 'q')!;
    assert.equal(q.deadLettered, 1);
    assert.equal(q.ready + q.unacked, 0);
  });

  it('reject and nack without requeue dead-letter, to <queue>.dlq by default', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'a');
    await node.publish({ queue: 'q' }, 'b');
    await node.consume('q', async (m) => { if (m.text() === 'a') await m.reject(); else await m.nack({ requeue: false }); }, { ack: 'manual' });
    const dead: string[] = [];
    await until(() => node.stats().queues.some((s) => s.name === 'q.dlq'), 'dlq declared');
    await node.consume('q.dlq', (m) => { dead.push(`${m.text()}:${m.headers['x-death-reason']}`); });
    await until(() => dead.length === 2, 'two dead letters');
    assert.deepEqual(dead, ['a:rejected', 'b:rejected']);
  });

  it('one message dead-lettered from two queues (a fanout), or from a queue made anew under the same name, makes a dead letter each time; a retried move makes one', async () => {
    await node.declareExchange('jobs', { type: 'fanout' });
    for (const q of ['resize', 'notify']) {
      await node.declareQueue(q, { deadLetterQueue: 'failed' });
      await node.bindQueue(q, 'jobs');
    }
    await node.publish({ exchange: 'jobs' }, 'job', { id: 'job-1' });
    for (const q of ['resize', 'notify']) await node.consume(q, (m) => m.reject(), { ack: 'manual' });
    const dead: Message[] = [];
    await until(() => node.stats().queues.some((s) => s.name === 'failed'), 'the dead-letter queue declared');
    await node.consume('failed', (m) => { dead.push(m); });
    await until(() => dead.length === 2, 'a dead letter from each queue');
    assert.deepEqual(dead.map((m) => m.headers['x-death-queue']).sort(), ['notify', 'resize']);
    assert.ok(dead.every((m) => m.id === 'job-1'), 'dead letters keep their id');
    // The queue deleted and made again: the message comes back at the same seq, and dies again.
    await node.deleteQueue('resize');
    await node.declareQueue('resize', { deadLetterQueue: 'failed' });
    await node.publish({ queue: 'resize' }, 'job', { id: 'job-1' });
    await node.consume('resize', (m) => m.reject(), { ack: 'manual' });
    await until(() => dead.length === 3, 'the third dead letter');
    const first = dead.find((m) => m.headers['x-death-queue'] === 'resize')!;
    assert.equal(dead[2]!.headers['x-death-seq'], first.headers['x-death-seq']);
    // A move retried after a crash publishes the same dead letter again: the dedup window drops it.
    const again = await node.publish({ queue: 'failed' }, 'job', { id: 'job-1', headers: dead[2]!.headers });
    assert.equal(again.duplicate, true);
  });

  it('a message left unsettled past ackTimeoutMs ends its consumer (as RabbitMQ\'s consumer_timeout): it goes back to the queue, redelivered, and the late ack does nothing', async () => {
    await node.declareQueue('q');
    const errors: Error[] = [];
    node.onError((e) => errors.push(e));
    // A consumer that keeps up is not touched by it.
    const quick = await node.consume('q', () => {}, { ackTimeoutMs: 5_000 });
    for (const t of texts(20)) await node.publish({ queue: 'q' }, t);
    await until(() => node.stats().queues.find((s) => s.name === 'q')?.acked === 20, 'the quick consumer handled 20');
    await quick.cancel();
    assert.equal((await quick.closed).reason, 'cancelled');

    await node.publish({ queue: 'q' }, 'stuck');
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    let held: Message | undefined;
    const slow = await node.consume('q', async (m) => { held = m; await stuck; }, { ack: 'manual', ackTimeoutMs: 100 });
    let closed: ConsumerClosed | undefined;
    void slow.closed.then((c) => { closed = c; });
    // The node holds no timer that keeps a process alive: until() does, here.
    await until(() => closed !== undefined, 'the stuck consumer closed');
    assert.equal(closed!.reason, 'ack-timeout');
    assert.ok(errors.some((e) => e instanceof PreconditionFailed && /not settled within 100 ms/.test(e.message)), 'reported through onError');
    const got: Message[] = [];
    const second = await node.consume('q', (m) => { got.push(m); });
    await until(() => got.length === 1, 'the message redelivered to another consumer');
    assert.equal(got[0]!.text(), 'stuck');
    assert.equal(got[0]!.redelivered, true);
    await held!.ack();
    release();
    await until(() => node.stats().queues.find((s) => s.name === 'q')?.acked === 21, 'acked once, by the second consumer');
    assert.equal(node.stats().queues.find((s) => s.name === 'q')!.unacked, 0);
    await second.cancel();

    // Pull style: the loop that holds a message past the timeout ends with the error.
    await node.publish({ queue: 'q' }, 'pulled');
    const alive = setInterval(() => {}, 1_000);
    try {
      await assert.rejects(async () => {
        for await (const m of node.messages('q', { ackTimeoutMs: 100 })) assert.equal(m.text(), 'pulled');
      }, PreconditionFailed);
    } finally {
      clearInterval(alive);
    }
  });

  it('a cancel waiting for a stuck handler ends with the ack timeout', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'stuck');
    let handling = false;
    const stuck = await node.consume('q', () => { handling = true; return new Promise(() => {}); }, { ack: 'manual', ackTimeoutMs: 200 });
    await until(() => handling, 'the handler took the message');
    let cancelled = false;
    void stuck.cancel().then(() => { cancelled = true; });
    await until(() => cancelled, 'the cancel ended');
    assert.equal((await stuck.closed).reason, 'ack-timeout');
    await until(() => node.stats().queues.find((s) => s.name === 'q')?.ready === 1, 'the message back in the queue');
  });

  it('settling twice is a typed error', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'x');
    let second: unknown;
    await node.consume('q', async (m) => { await m.ack(); second = await m.ack().catch((e: unknown) => e); }, { ack: 'manual' });
    await until(() => second !== undefined, 'second ack');
    assert.equal((second as { code?: string }).code, 'INVALID_ARGUMENT');
  });

  it('a prefetch no handler had goes back uncounted: a loop that takes one message and leaves, run again and again, dead-letters nothing', async () => {
    await node.declareQueue('jobs', { maxDeliveries: 2 });
    for (const t of texts(10)) await node.publish({ queue: 'jobs' }, t);
    const taken: [string, number, boolean][] = [];
    for (let round = 0; round < 5; round++) {
      for await (const m of node.messages('jobs', { prefetch: 10 })) {
        taken.push([m.text(), m.deliveryCount, m.redelivered]);
        await m.ack();
        break;
      }
    }
    assert.deepEqual(taken, texts(5).map((t) => [t, 1, false]));
    const jobs = node.stats().queues.find((q) => q.name === 'jobs')!;
    assert.deepEqual([jobs.ready, jobs.deadLettered], [5, 0]);

    // A push consumer cancelled with one message in its handler: that one counts, those waiting behind it do not.
    let release!: () => void;
    const handled: Message[] = [];
    const c = await node.consume('jobs', (m) => { handled.push(m); return new Promise<void>((r) => (release = r)); }, { prefetch: 5 });
    await until(() => handled.length === 1 && node.stats().queues.find((q) => q.name === 'jobs')!.unacked === 5, 'one in hand, four waiting');
    const cancelled = c.cancel();
    release();
    await cancelled;
    const again: [string, number][] = [];
    for await (const m of node.messages('jobs', { prefetch: 10 })) {
      again.push([m.text(), m.deliveryCount]);
      await m.ack();
      if (again.length === 4) break;
    }
    assert.deepEqual(again, [['m6', 1], ['m7', 1], ['m8', 1], ['m9', 1]], 'the one handled was acked; the rest come as first deliveries');
  });

  it('messages() iterates with manual acks and stops on abort, returning the unacked', async () => {
    await node.declareQueue('q');
    for (const t of texts(10)) await node.publish({ queue: 'q' }, t);
    const ac = new AbortController();
    const got: string[] = [];
    for await (const m of node.messages('q', { prefetch: 3, signal: ac.signal })) {
      got.push(m.text());
      await m.ack();
      if (got.length === 6) ac.abort();
    }
    assert.deepEqual(got, texts(6));
    await until(() => node.stats().queues[0]!.consumers === 0, 'consumer cancelled');
    const q = node.stats().queues[0]!;
    assert.equal(q.acked, 6);
    assert.equal(q.ready, 4);
    const rest: string[] = [];
    for await (const m of node.messages('q')) {
      rest.push(m.text());
      await m.ack();
      if (rest.length === 4) break;
    }
    assert.deepEqual(rest, ['m6', 'm7', 'm8', 'm9']);
  });

  it('messages() loops that share one long-lived signal leave no listener on it', async () => {
    await node.declareQueue('q');
    const shutdown = new AbortController();
    for (let i = 0; i < 20; i++) {
      await node.publish({ queue: 'q' }, `m${i}`);
      for await (const m of node.messages('q', { signal: shutdown.signal })) {
        await m.ack();
        break;
      }
    }
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
  });

  it('stop() called again while the node stops waits for that stop, not less (a second signal must not cut it short)', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'slow');
    let release!: () => void;
    let finished = false;
    const started = new Promise<void>((r) => {
      void node.consume('q', () => { r(); return new Promise<void>((done) => { release = () => { finished = true; done(); }; }); });
    });
    await started;
    const first = node.stop();
    const second = node.stop();
    assert.equal(second, first);
    release();
    await second;
    assert.ok(finished, 'the message in hand finished before the stop ended');
  });

  it('cancel waits for the message in hand to finish', async () => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'slow');
    let finished = false;
    let started = false;
    const c = await node.consume('q', async () => { started = true; await new Promise((r) => setTimeout(r, 50)); finished = true; });
    await until(() => started, 'handler started');
    await c.cancel();
    assert.equal(finished, true);
    await until(() => node.stats().queues[0]!.acked === 1, 'acked');
  });
});
