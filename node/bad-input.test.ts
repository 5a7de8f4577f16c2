import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ExchangeNotFound, InvalidArgument, InvalidName, MAX_BODY_BYTES, QueueNotFound, Stopped, Warren, WarrenError } from '../index.ts';
import { memoryNode, until } from './testing.ts';

// Wrong types come from JavaScript callers and untyped data; the casts put them through on purpose.
const loose = <T>(v: unknown) => v as T;

describe('bad input gets a typed error and a counter; the node keeps working', () => {
  let node: Warren;
  before(async () => {
    node = await memoryNode();
    await node.declareQueue('ok');
    await node.declareExchange('ex', { type: 'topic' });
  });
  after(async () => { await node.stop(); });

  const cases: [string, () => Promise<unknown>, new (...a: never[]) => WarrenError][] = [
    ['publish to an unknown queue', () => node.publish({ queue: 'nope' }, 'x'), QueueNotFound],
    ['publish to an unknown exchange', () => node.publish({ exchange: 'nope', routingKey: 'k' }, 'x'), ExchangeNotFound],
    ['consume an unknown queue', () => node.consume('nope', () => {}), QueueNotFound],
    ['an empty queue name', () => node.declareQueue(''), InvalidName],
    ['a queue name with spaces', () => node.declareQueue('has space'), InvalidName],
    ['a queue name that is not a string', () => node.declareQueue(loose<string>(42)), InvalidName],
    ['a queue name too long', () => node.declareQueue('x'.repeat(201)), InvalidName],
    ['a name with an empty word', () => node.declareQueue('a..b'), InvalidName],
    ['a queue name that leaves no room for its dead-letter queue (<name>.dlq)', () => node.declareQueue('x'.repeat(197)), InvalidName],
    ['a queue that is its own dead-letter queue', () => node.declareQueue('loop', { deadLetterQueue: 'loop' }), InvalidArgument],
    ['a binding pattern over 255 bytes (AMQP: a short string)', () => node.bindQueue('ok', 'ex', 'a.'.repeat(128)), InvalidArgument],
    ['a routing key over 255 bytes', () => node.publish({ exchange: 'ex', routingKey: 'é'.repeat(128) }, 'x'), InvalidArgument],
    ['a body with a BigInt', () => node.publish({ queue: 'ok' }, loose({ n: 10n })), InvalidArgument],
    ['a body with a function', () => node.publish({ queue: 'ok' }, loose({ f: () => 1 })), InvalidArgument],
    ['an undefined body', () => node.publish({ queue: 'ok' }, loose(undefined)), InvalidArgument],
    ['a Map for a body', () => node.publish({ queue: 'ok' }, loose(new Map([['k', 1]]))), InvalidArgument],
    ['bytes inside a JSON body', () => node.publish({ queue: 'ok' }, loose({ data: new Float32Array([1.5]) })), InvalidArgument],
    ['a Buffer inside a JSON body (its toJSON would make numbers of it)', () => node.publish({ queue: 'ok' }, loose({ data: Buffer.from('hi') })), InvalidArgument],
    ['a Buffer inside a JSON array', () => node.publish({ queue: 'ok' }, loose([1, Buffer.from('hi')])), InvalidArgument],
    ['a circular body', () => { const o: Record<string, unknown> = {}; o.self = o; return node.publish({ queue: 'ok' }, loose(o)); }, InvalidArgument],
    ['an oversized body', () => node.publish({ queue: 'ok' }, new Uint8Array(MAX_BODY_BYTES + 1)), InvalidArgument],
    ['a negative prefetch', () => node.consume('ok', () => {}, { prefetch: -1 }), InvalidArgument],
    ['a fractional prefetch', () => node.consume('ok', () => {}, { prefetch: 1.5 }), InvalidArgument],
    ['a handler that is not a function', () => node.consume('ok', loose(null)), InvalidArgument],
    ['an unknown queue option', () => node.declareQueue('q2', loose({ mirror: 1 })), InvalidArgument],
    ['a maxDeliveries of the wrong type', () => node.declareQueue('q3', loose({ maxDeliveries: '5' })), InvalidArgument],
    ['an unknown exchange type', () => node.declareExchange('e', loose({ type: 'headers' })), InvalidArgument],
    ['a priority out of range', () => node.publish({ queue: 'ok' }, 'x', { priority: 300 }), InvalidArgument],
    ['headers that are not strings', () => node.publish({ queue: 'ok' }, 'x', loose({ headers: { n: 1 } })), InvalidArgument],
    ['a target that is not an object', () => node.publish(loose('ok'), 'x'), InvalidArgument],
    ['binding to an unknown exchange', () => node.bindQueue('ok', 'nope', 'k'), ExchangeNotFound],
  ];
  for (const [what, call, type] of cases) {
    it(`${what} → ${type.name}`, async () => {
      await assert.rejects(call(), (e: unknown) => e instanceof type && e instanceof WarrenError && e.message.length > 0);
    });
  }

  it('counts every refused input, and still publishes and consumes', async () => {
    assert.ok(node.stats().node.invalidInput >= cases.length);
    await node.publish({ queue: 'ok' }, 'still works');
    const got: string[] = [];
    await node.consume('ok', (m) => { got.push(m.text()); });
    await until(() => got.length === 1, 'delivery');
    assert.deepEqual(got, ['still works']);
  });

  it('bad start options are refused with InvalidArgument', async () => {
    await assert.rejects(Warren.start(loose({ fsync: 'sometimes' })), InvalidArgument);
    await assert.rejects(Warren.start(loose({ nodeId: 'no spaces allowed' })), InvalidArgument);
  });

  it('a stopped node refuses calls with Stopped', async () => {
    const n = await memoryNode();
    await n.declareQueue('q');
    await n.declareExchange('e', { type: 'fanout' });
    await n.bindQueue('q', 'e');
    await n.stop();
    await assert.rejects(n.publish({ queue: 'q' }, 'x'), Stopped);
    await assert.rejects(n.unbindQueue('q', 'e'), Stopped);
  });

  it('an embedded node takes bodies up to MAX_BODY_BYTES (no NATS message to fit in)', async () => {
    await node.declareQueue('big');
    await node.publish({ queue: 'big' }, new Uint8Array(10 * 1024 * 1024), { headers: { note: 'large' } });
    const got: number[] = [];
    const c = await node.consume('big', (m) => { got.push(m.body.length); });
    await until(() => got.length === 1, 'the big one');
    await c.cancel();
    assert.deepEqual(got, [10 * 1024 * 1024]);
  });

  it('bytes in any view (an ArrayBuffer, a DataView, a typed array) are sent as they are', async () => {
    await node.declareQueue('bytes');
    const bodies = [Uint8Array.of(1, 2, 3).buffer, new DataView(Uint8Array.of(9, 4, 5, 6).buffer, 1, 2), new Uint16Array([0x0201])];
    for (const body of bodies) await node.publish({ queue: 'bytes' }, body);
    const got: number[][] = [];
    const c = await node.consume('bytes', (m) => { got.push([...m.body]); });
    await until(() => got.length === 3, 'all three');
    await c.cancel();
    assert.deepEqual(got, [[1, 2, 3], [4, 5], [...new Uint8Array(new Uint16Array([0x0201]).buffer)]]);
  });

  it("a nack's delay of the wrong type or sign is refused, and the message can still be settled", async () => {
    await node.declareQueue('nacks');
    await node.publish({ queue: 'nacks' }, 'n');
    const refusals: unknown[] = [];
    const c = await node.consume('nacks', async (m) => {
      for (const delayMs of ['100', -5, Number.NaN, 1.5]) await m.nack({ delayMs: loose<number>(delayMs) }).catch((e: unknown) => refusals.push(e));
      await m.ack();
    }, { ack: 'manual' });
    await until(() => refusals.length === 4 && node.stats().queues.find((q) => q.name === 'nacks')?.acked === 1, 'refused four times, then acked');
    await c.cancel();
    assert.ok(refusals.every((e) => e instanceof InvalidArgument), String(refusals));
  });

  it('a supervision.decide that throws or answers no directive ends its consumer with InvalidArgument, reported; the message goes back', async () => {
    await node.declareQueue('decided');
    const faults: string[] = [];
    const off = node.onError((e) => { faults.push(e.message); });
    const broken = [() => loose<'restart'>('retry'), () => { throw new Error('decide broke'); }];
    for (const decide of broken) {
      const c = await node.consume('decided', () => { throw new Error('handler fails'); }, { supervision: { decide } });
      await node.publish({ queue: 'decided' }, 'x');
      const closed = await c.closed;
      assert.equal(closed.reason, 'failed');
      assert.ok('error' in closed && closed.error instanceof InvalidArgument, JSON.stringify(closed));
    }
    off();
    // Neither message was judged: both wait in the queue, none went to its dead letters.
    await until(() => node.stats().queues.find((q) => q.name === 'decided')?.ready === 2, 'both messages back in line');
    assert.equal(node.stats().queues.find((q) => q.name === 'decided.dlq')?.ready ?? 0, 0);
    assert.ok(faults.some((m) => /answered "retry"/.test(m)) && faults.some((m) => /decide threw: decide broke/.test(m)), String(faults));
  });
});
