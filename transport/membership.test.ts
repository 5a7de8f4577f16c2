import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../node/testing.ts';
import { LocalBus, LocalTransport } from './local.ts';
import { Membership } from './membership.ts';

describe('membership', () => {
  const opts = { intervalMs: 10, downAfterMs: 100 };

  it('nodes see each other; a silent node is marked down; a leaving one at once', async () => {
    const bus = new LocalBus();
    const transports = ['a', 'b', 'c'].map(() => new LocalTransport(bus));
    const [a, b, c] = ['a', 'b', 'c'].map((id, i) => new Membership(transports[i]!, 'w.hb', id, id === 'c' ? 'client' : 'server', opts));
    const downs: string[] = [];
    a!.onDown((n) => downs.push(n));
    for (const m of [a, b, c]) m!.start();
    await until(() => a!.list().filter((m) => m.up).length === 3, 'a sees all three');
    assert.deepEqual(a!.servers(), ['a', 'b']);
    await c!.stop();
    await until(() => downs.includes('c'), 'c left');
    // b goes silent without a goodbye: its transport closes, as when its process dies.
    await transports[1]!.close();
    // On the state, not the events: after a stall of the test's process b may have been marked down once already.
    await until(() => a!.list().find((m) => m.nodeId === 'b')?.up === false, 'b timed out');
    assert.deepEqual(a!.list().map((m) => [m.nodeId, m.up]), [['a', true], ['b', false], ['c', false]]);
    await a!.stop();
  });

  it('a node that a request names and that is never heard from is told down; one that is heard from, and the node itself, are not', async () => {
    const bus = new LocalBus();
    // A timeout long enough that no stall of the test's process marks b down.
    const slow = { intervalMs: 10, downAfterMs: 1_000 };
    const [a, b] = ['a', 'b'].map((id) => new Membership(new LocalTransport(bus), 'w.hb', id, 'server', slow));
    const downs: string[] = [];
    a!.onDown((n) => downs.push(n));
    a!.start();
    for (const named of ['ghost', 'b', 'a']) a!.expect(named);
    b!.start();
    await until(() => downs.includes('ghost'), 'the ghost told down');
    // Another sweep or two: b heartbeats, and a is itself.
    await new Promise((r) => setTimeout(r, slow.downAfterMs * 1.5));
    assert.deepEqual(downs, ['ghost']);
    assert.deepEqual(a!.list().map((m) => m.nodeId), ['a', 'b'], 'the ghost is no member');
    await b!.stop();
    await a!.stop();
  });

  it('counts and ignores heartbeats that do not parse, or name no valid node id', async () => {
    const bus = new LocalBus();
    const t = new LocalTransport(bus);
    const m = new Membership(new LocalTransport(bus), 'w.hb', 'a', 'server', opts);
    m.start();
    // An id that is not one ("x y") would make the subjects built from it invalid NATS protocol.
    const junks = ['not json', '{"nodeId":1}', '{}', '\u0000\u0001', '{"nodeId":"x y","role":"server","leaving":false}', '{"nodeId":"a.b","role":"server","leaving":false}'];
    for (const junk of junks) t.publish('w.hb', new TextEncoder().encode(junk));
    await until(() => m.rejected === junks.length, 'all rejected');
    assert.deepEqual(m.list().map((x) => x.nodeId), ['a']);
    await m.stop();
  });
});
