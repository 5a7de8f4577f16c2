// The contract every Transport passes. Each implementation's test file calls describeTransport.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { NoResponders, TransportTimeout, type Transport, type TransportMessage } from './transport.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** `connect` returns transports that reach each other (same bus or same server). */
export function describeTransport(name: string, connect: () => Promise<Transport>, teardown?: () => Promise<void>) {
  describe(`Transport contract: ${name}`, () => {
    const opened: Transport[] = [];
    const open = async () => { const t = await connect(); opened.push(t); return t; };
    after(async () => { for (const t of opened) await t.close(); await teardown?.(); });

    it('delivers published messages to matching subscribers, with * and > wildcards', async () => {
      const [a, b] = [await open(), await open()];
      const seen: string[] = [];
      const done = new Promise<void>((resolve) => {
        const record = (tag: string) => (m: TransportMessage) => { seen.push(`${tag}:${m.subject}:${text(m.data)}`); if (seen.length === 4) resolve(); };
        b.subscribe('c1.q.orders', record('exact'));
        b.subscribe('c1.q.*', record('star'));
        b.subscribe('c1.>', record('gt'));
        b.subscribe('c1.x.*', record('other'));
      });
      await b.flush();
      a.publish('c1.q.orders', bytes('hello'));
      a.publish('c1.deep.er.subject', bytes('deep'));
      await done;
      assert.deepEqual(seen.sort(), ['exact:c1.q.orders:hello', 'gt:c1.deep.er.subject:deep', 'gt:c1.q.orders:hello', 'star:c1.q.orders:hello']);
    });

    it('request/reply round-trips bytes', async () => {
      const [client, server] = [await open(), await open()];
      server.subscribe('c2.echo', (m) => { if (m.reply) server.publish(m.reply, bytes(`re:${text(m.data)}`)); });
      await server.flush();
      const reply = await client.request('c2.echo', bytes('ping'), { timeoutMs: 5000 });
      assert.equal(text(reply), 're:ping');
    });

    it('a queue group shares messages: each one reaches exactly one member', async () => {
      const [pub, s1, s2] = [await open(), await open(), await open()];
      const got: string[] = [];
      const done = new Promise<void>((resolve) => {
        const h = (m: TransportMessage) => { got.push(text(m.data)); if (got.length === 20) resolve(); };
        s1.subscribe('c3.work', h, { queue: 'g' });
        s2.subscribe('c3.work', h, { queue: 'g' });
      });
      await Promise.all([s1.flush(), s2.flush()]);
      for (let i = 0; i < 20; i++) pub.publish('c3.work', bytes(String(i)));
      await done;
      assert.deepEqual(got.map(Number).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    });

    it('a request with nobody listening fails fast or times out, with a typed error', async () => {
      const t = await open();
      await assert.rejects(t.request('c4.nobody', bytes('x'), { timeoutMs: 200 }),
        (e: unknown) => e instanceof NoResponders || e instanceof TransportTimeout);
    });

    it('unsubscribe stops delivery', async () => {
      const [a, b] = [await open(), await open()];
      let count = 0;
      const sub = b.subscribe('c5.s', () => { count++; });
      b.subscribe('c5.done', () => {});
      await b.flush();
      sub.unsubscribe();
      await b.flush();
      a.publish('c5.s', bytes('x'));
      const marker = await open();
      const got = new Promise<void>((r) => marker.subscribe('c5.mark', () => r()));
      await marker.flush();
      a.publish('c5.mark', bytes('m'));
      await got;
      assert.equal(count, 0);
    });
  });
}
