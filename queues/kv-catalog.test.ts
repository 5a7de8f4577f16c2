import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { asExchange, asNodeId, asQueue } from '../node/ids.ts';
import { parse, queueSchema } from '../node/options.ts';
import { until } from '../node/testing.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { NatsTransport } from '../transport/nats.ts';
import { KvCatalog } from './kv-catalog.ts';

describe('the distributed catalog (JetStream KV)', () => {
  let server: NatsServer;
  const open: { t: NatsTransport; c: KvCatalog }[] = [];
  const connect = async () => {
    const t = await NatsTransport.connect({ servers: server.url });
    const c = await KvCatalog.open(t.connection, 'kvtest');
    open.push({ t, c });
    return c;
  };
  before(async () => { server = await NatsServer.start(); });
  after(async () => {
    for (const { t, c } of open) { await c.close(); await t.close(); }
    await server.stop();
  });

  it('two nodes racing to declare a queue get one declaration, and both see it', async () => {
    const [a, b] = [await connect(), await connect()];
    const options = parse(queueSchema, {}, 'q');
    const [da, db] = await Promise.all([
      a.declareQueue({ name: asQueue('orders'), options, home: asNodeId('a') }),
      b.declareQueue({ name: asQueue('orders'), options, home: asNodeId('b') }),
    ]);
    assert.equal(da.home, db.home);
    await until(() => a.queue(asQueue('orders'))?.home === da.home && b.queue(asQueue('orders'))?.home === da.home, 'both views');
  });

  it('exchanges and bindings made on one node route on another; a late joiner loads them', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.declareExchange(asExchange('events'), 'topic');
    assert.equal(await b.declareExchange(asExchange('events'), 'direct'), 'topic', 'the first type wins');
    await a.bind({ exchange: asExchange('events'), queue: asQueue('orders'), pattern: 'order.*' });
    await until(() => b.exchanges.route(asExchange('events'), 'order.created').length === 1, 'b routes');
    const late = await connect();
    assert.deepEqual(late.exchanges.route(asExchange('events'), 'order.created'), ['orders']);
    await a.unbind({ exchange: asExchange('events'), queue: asQueue('orders'), pattern: 'order.*' });
    await until(() => late.exchanges.route(asExchange('events'), 'order.created').length === 0, 'unbinding seen');
  });

  it('a queue or exchange deleted on one node is gone on the others, with its bindings, and can be declared anew', async () => {
    const [a, b] = [await connect(), await connect()];
    const options = parse(queueSchema, {}, 'q');
    const [q, x] = [asQueue('shipping'), asExchange('parcels')];
    await a.declareQueue({ name: q, options, home: asNodeId('a') });
    await a.declareExchange(x, 'fanout');
    await a.bind({ exchange: x, queue: q, pattern: '' });
    await until(() => b.exchanges.route(x, '').length === 1 && b.queue(q) !== undefined, 'b sees them');
    const deleted: string[] = [];
    b.onChange((c) => { if (c.type === 'queue-deleted' || c.type === 'exchange-deleted') deleted.push(`${c.type} ${c.name}`); });
    await a.deleteQueue(q);
    assert.equal(a.queue(q), undefined);
    await until(() => b.queue(q) === undefined && b.exchanges.route(x, '').length === 0, 'b sees the queue and its binding gone');
    await a.deleteExchange(x);
    await until(() => b.exchanges.typeOf(x) === undefined, 'b sees the exchange gone');
    assert.deepEqual(deleted, ['queue-deleted shipping', 'exchange-deleted parcels']);
    const late = await connect();
    assert.equal(late.queue(q), undefined);
    assert.equal(await late.refresh('queue', q), false);
    assert.equal((await b.declareQueue({ name: q, options, home: asNodeId('b') })).home, 'b', 'declared anew, by another node');
    await until(() => a.queue(q)?.home === 'b', 'a sees the new declaration');
  });

  it('a node that loads the catalog while another deletes bindings starts, and ends with what the bucket holds', async () => {
    const a = await connect();
    const [q, x] = [asQueue('churn'), asExchange('churn')];
    await a.declareQueue({ name: q, options: parse(queueSchema, {}, 'q'), home: asNodeId('a') });
    await a.declareExchange(x, 'direct');
    const keys = (round: number) => Array.from({ length: 200 }, (_, i) => `r${round}.k${i}`);
    const routes = (c: KvCatalog, rounds: number) => Array.from({ length: rounds }, (_, r) => keys(r).map((k) => c.exchanges.route(x, k).length).join('')).join(' ');
    for (let round = 0; round < 3; round++) {
      for (const k of keys(round)) await a.bind({ exchange: x, queue: q, pattern: k });
      // Every other one goes while the late node reads the bucket: deletes land during its load.
      const deleting = (async () => { for (const k of keys(round).filter((_, i) => i % 2 === 0)) await a.unbind({ exchange: x, queue: q, pattern: k }); })();
      const late = await connect();
      await deleting;
      const quiet = await connect(); // loads the bucket as it is now, with nothing changing
      assert.match(routes(quiet, round + 1), /^(01)+( (01)+)*$/, 'the bucket holds every odd binding, no even one');
      await until(() => routes(late, round + 1) === routes(quiet, round + 1), `round ${round}: the late node's view is the bucket's`);
    }
  });
});
