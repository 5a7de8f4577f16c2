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
});
