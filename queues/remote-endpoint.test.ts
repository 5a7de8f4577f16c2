// The remote endpoint against a leader that answers over a real nats-server. Here the leader is a
// bare NATS client that speaks the protocol, for what a real one does only across versions: refusing
// a settle frame.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NotConfirmed } from '../node/errors.ts';
import { asConsumerTag, asQueue } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { clusterSubjects } from '../transport/cluster-subjects.ts';
import { encode } from '../transport/frame.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { NatsTransport } from '../transport/nats.ts';
import type { Delivery } from './queue-actor.ts';
import { RemoteEndpoint } from './remote-endpoint.ts';
import { control, errorFrame } from './remote-protocol.ts';

let server: NatsServer;
before(async () => { server = await NatsServer.start(); });
after(async () => { await server.stop(); });

describe('remote endpoint', () => {
  it('reports settlements its leader refuses, as NotConfirmed naming the queue', async () => {
    const subjects = clusterSubjects('re');
    const [leader, node] = [await NatsTransport.connect({ servers: server.url }), await NatsTransport.connect({ servers: server.url })];
    const consumer = asConsumerTag('c1');
    leader.subscribe(subjects.control('q'), (m) => { if (m.reply) leader.publish(m.reply, control({ ok: true })); });
    leader.subscribe(subjects.settle('q'), (m) => { if (m.reply) leader.publish(m.reply, errorFrame('BAD_FRAME', 'unsupported frame version 9')); });
    await leader.flush();

    const errors: Error[] = [];
    const endpoint = new RemoteEndpoint(asQueue('q'), node, subjects, 'n1', (e) => errors.push(e));
    const delivered: Delivery[] = [];
    await endpoint.subscribe(consumer, { prefetch: 10, deliver: (batch) => delivered.push(...batch), held: () => delivered.map((d) => d.seq) });
    leader.publish(subjects.deliver(consumer), encode({ type: 'deliver', consumer, epoch: 0, entries: [{ seq: 1, id: 'm1', headers: {}, deliveryCount: 1, body: new Uint8Array([1]) }] }));
    await until(() => delivered.length === 1, 'the delivery');

    endpoint.settle(consumer, [{ seq: delivered[0]!.seq, outcome: 'ack' }]);
    await until(() => errors.length === 1, 'the refusal reported');
    assert.ok(errors[0] instanceof NotConfirmed, String(errors[0]));
    assert.match(errors[0].message, /queue 'q'.*consumer 'c1'.*unsupported frame version 9/);
    endpoint.close();
    await leader.close();
    await node.close();
  });
});
