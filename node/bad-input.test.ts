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
    ['a body with a BigInt', () => node.publish({ queue: 'ok' }, loose({ n: 10n })), InvalidArgument],
    ['a body with a function', () => node.publish({ queue: 'ok' }, loose({ f: () => 1 })), InvalidArgument],
    ['an undefined body', () => node.publish({ queue: 'ok' }, loose(undefined)), InvalidArgument],
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
    await n.stop();
    await assert.rejects(n.publish({ queue: 'q' }, 'x'), Stopped);
  });
});
