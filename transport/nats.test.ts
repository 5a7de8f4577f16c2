import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../node/testing.ts';
import { NatsServer } from './nats-server.ts';
import { NatsTransport, type TransportStatus } from './nats.ts';
import { describeTransport } from './transport.contract.ts';

let server: NatsServer;
before(async () => { server = await NatsServer.start(); });
after(async () => { await server.stop(); });

describeTransport('nats', () => NatsTransport.connect({ servers: server.url }));

describe('NATS transport with a handler that throws', () => {
  it('reports the throw and keeps its connection: the next message is handled', async () => {
    const [a, b] = [await NatsTransport.connect({ servers: server.url }), await NatsTransport.connect({ servers: server.url })];
    const statuses: TransportStatus[] = [];
    const thrown: unknown[] = [];
    b.onStatus((s) => statuses.push(s));
    b.onHandlerError((e) => thrown.push(e));
    const got: string[] = [];
    b.subscribe('t.x', (m) => {
      const text = new TextDecoder().decode(m.data);
      // As a publish larger than the server takes would throw inside a handler.
      if (text === 'bad') b.publish('t.y', new Uint8Array(b.maxPayload + 1));
      got.push(text);
    });
    await b.flush();
    for (const text of ['bad', 'good']) a.publish('t.x', new TextEncoder().encode(text));
    await until(() => got.includes('good'), 'the next message handled');
    assert.equal(thrown.length, 1);
    assert.deepEqual(statuses, []);
    await a.close();
    await b.close();
  });
});

describe('NATS transport across a server restart', () => {
  it('reconnects by itself, reports it, and delivers again', async () => {
    const [a, b] = [await NatsTransport.connect({ servers: server.url }), await NatsTransport.connect({ servers: server.url })];
    const statuses: TransportStatus[] = [];
    a.onStatus((s) => statuses.push(s));
    const got: string[] = [];
    b.subscribe('r.x', (m) => got.push(new TextDecoder().decode(m.data)));
    await b.flush();
    a.publish('r.x', new TextEncoder().encode('before'));
    await until(() => got.length === 1, 'delivery before the restart');
    await server.restart();
    await until(() => statuses.includes('reconnected'), 'reconnected', 20_000);
    // b resubscribes on its reconnect; publish until one gets through rather than guess when.
    for (let i = 0; got.length < 2 && i < 200; i++) {
      a.publish('r.x', new TextEncoder().encode('after'));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(got.slice(0, 2), ['before', 'after']);
    assert.ok(statuses.includes('disconnected'));
    await a.close();
    await b.close();
  });
});

describe('NATS transport started before its server', () => {
  it('waits for the server, however long it takes to come up, and then works', async () => {
    const late = await NatsServer.start();
    try {
      await late.kill();
      let connected = false;
      const connecting = NatsTransport.connect({ servers: late.url }).then((t) => { connected = true; return t; });
      // Nothing to connect to for a while: several rounds of trying (each also asks the server's INFO).
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(connected, false);
      await late.restart();
      const t = await connecting;
      t.subscribe('late.echo', (m) => { if (m.reply) t.publish(m.reply, m.data); });
      await t.flush();
      assert.deepEqual(new TextDecoder().decode(await t.request('late.echo', new TextEncoder().encode('up'), { timeoutMs: 5_000 })), 'up');
      await t.close();
    } finally {
      await late.stop();
    }
  });
});
