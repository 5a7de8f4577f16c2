// The remote endpoint over a real nats-server, against a leader that is a bare NATS client speaking
// the protocol: for what a real one does only across versions (refusing a settle frame), and to watch
// the endpoint's own subscriptions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NotConfirmed } from '../node/errors.ts';
import { asConsumerTag, asQueue } from '../node/ids.ts';
import { until } from '../node/testing.ts';
import { clusterSubjects } from '../transport/cluster-subjects.ts';
import { encode } from '../transport/frame.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { NatsTransport } from '../transport/nats.ts';
import type { MessageHandler, Transport } from '../transport/transport.ts';
import type { Delivery } from './queue-actor.ts';
import { RemoteEndpoint } from './remote-endpoint.ts';
import { control, errorFrame } from './remote-protocol.ts';

let server: NatsServer;
before(async () => { server = await NatsServer.start(); });
after(async () => { await server.stop(); });

describe('remote endpoint', () => {
  const subjects = clusterSubjects('re');
  /** A leader for queue q that takes every control request and answers settle frames with `settled`. */
  async function fakeLeader(settled: Uint8Array): Promise<NatsTransport> {
    const leader = await NatsTransport.connect({ servers: server.url });
    leader.subscribe(subjects.control('q'), (m) => { if (m.reply) leader.publish(m.reply, control({ ok: true })); });
    leader.subscribe(subjects.settle('q'), (m) => { if (m.reply) leader.publish(m.reply, settled); });
    await leader.flush();
    return leader;
  }
  const subscriber = (delivered: Delivery[]) => ({ prefetch: 10, deliver: (batch: readonly Delivery[]) => void delivered.push(...batch), held: () => delivered.map((d) => d.seq) });

  it("listens for its queue node's opened notices while it has consumers there, and only then", async () => {
    const leader = await fakeLeader(control({ ok: true }));
    const node = await NatsTransport.connect({ servers: server.url });
    // The real transport, with its live subscriptions to the notices counted.
    let listening = 0;
    const counted: Transport = Object.create(node, { subscribe: { value: (subject: string, handler: MessageHandler) => {
      const sub = node.subscribe(subject, handler);
      if (subject !== subjects.opened('q')) return sub;
      listening++;
      return { unsubscribe: () => { listening--; sub.unsubscribe(); } };
    } } }) as Transport;
    const endpoint = new RemoteEndpoint(asQueue('q'), counted, subjects, 'n1', () => {});
    for (let round = 0; round < 2; round++) {
      await endpoint.subscribe(asConsumerTag('a'), subscriber([]));
      await endpoint.subscribe(asConsumerTag('b'), subscriber([]));
      assert.equal(listening, 1);
      await endpoint.cancel(asConsumerTag('a'));
      assert.equal(listening, 1, 'b still consumes');
      await endpoint.cancel(asConsumerTag('b'));
      assert.equal(listening, 0, 'no consumer left');
    }
    endpoint.close();
    await leader.close();
    await node.close();
  });

  it('reports settlements its leader refuses, as NotConfirmed naming the queue', async () => {
    const [leader, node] = [await fakeLeader(errorFrame('BAD_FRAME', 'unsupported frame version 9')), await NatsTransport.connect({ servers: server.url })];
    const consumer = asConsumerTag('c1');
    const errors: Error[] = [];
    const endpoint = new RemoteEndpoint(asQueue('q'), node, subjects, 'n1', (e) => errors.push(e));
    const delivered: Delivery[] = [];
    await endpoint.subscribe(consumer, subscriber(delivered));
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
