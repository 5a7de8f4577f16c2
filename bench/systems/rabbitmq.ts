// RabbitMQ through amqplib: a classic durable queue or a quorum queue; W2 on a durable fanout exchange.
// Producer and consumers use separate connections, as separate services would.
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { CONNECT_TIMEOUT_MS, peers } from '../peers.ts';
import { findPid } from '../rss.ts';
import { withTimeout } from '../timeout.ts';
import { queueNames } from '../topology.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';

export type QueueType = 'classic' | 'quorum';

const DURABILITY: Record<QueueType, string> = {
  classic: 'persistent messages in a durable classic queue; a confirm is sent once the message is written to disk (RabbitMQ groups the fsyncs)',
  quorum: 'quorum queue (Raft, 1 member on this single node); a confirm is sent once the entry is fsync\'d by a majority of members',
};

function connect(): Promise<ChannelModel> {
  // amqplib leaves Nagle on by default: small frames then wait for delayed ACKs (~40 ms each).
  return withTimeout(amqp.connect(peers.amqpUrl, { timeout: CONNECT_TIMEOUT_MS, noDelay: true }), CONNECT_TIMEOUT_MS, `AMQP ${peers.amqpUrl}`);
}

export function rabbitmq(type: QueueType): System {
  return {
    async probe(): Promise<ServerInfo> {
      const conn = await connect();
      try {
        const p = conn.connection.serverProperties;
        return {
          server: `${p.product} ${p.version}`,
          durability: DURABILITY[type],
          fanout: 'a durable fanout exchange bound to 4 queues of this type; one publish, one confirm',
        };
      } finally {
        await conn.close();
      }
    },

    async open(name: string, topology: Topology): Promise<Session> {
      const producer = await connect();
      try {
        const channel = await producer.createConfirmChannel();
        await declare(channel, type, name, topology);
        return session(producer, channel, name, topology);
      } catch (e) {
        await producer.close().catch(() => {});
        throw e;
      }
    },

    remove,
  };
}

async function declare(channel: Channel, type: QueueType, name: string, topology: Topology): Promise<void> {
  for (const q of queueNames(name, topology)) {
    await channel.assertQueue(q, { durable: true, arguments: { 'x-queue-type': type } });
  }
  if (topology.kind === 'fanout') {
    await channel.assertExchange(name, 'fanout', { durable: true });
    for (const q of queueNames(name, topology)) await channel.bindQueue(q, name, '');
  }
}

async function session(producer: ChannelModel, channel: ConfirmChannel, name: string, topology: Topology): Promise<Session> {
  const queues = queueNames(name, topology);
  // The default exchange routes by queue name; the fanout exchange ignores the routing key.
  const [exchange, routingKey] = topology.kind === 'fanout' ? [name, ''] : ['', name];
  let consumers: ChannelModel | undefined;
  const channels: Channel[] = [];

  return {
    publish: (body) => new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, Buffer.from(body.buffer, body.byteOffset, body.byteLength), { persistent: true }, (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(`nack from RabbitMQ`)) : resolve()));
    }),

    async consume(index: number, prefetch: number, onMessage: (d: Delivery) => void): Promise<void> {
      consumers ??= await connect();
      // One channel per consumer: basic.qos without `global` limits each consumer to `prefetch` unacked.
      const ch = await consumers.createChannel();
      channels.push(ch);
      await ch.prefetch(prefetch);
      await ch.consume(queues[index]!, (m) => {
        if (m) onMessage({ body: m.content, ack: () => ch.ack(m) });
      }, { noAck: false });
    },

    serverPid: () => findPid('beam.smp'),

    async close(): Promise<void> {
      // Closing a channel flushes the acks sent before it, then RabbitMQ requeues anything unacked.
      for (const ch of channels) await ch.close().catch(() => {});
      await consumers?.close().catch(() => {});
      await deleteAll(channel, name, topology).catch(() => {});
      await producer.close().catch(() => {});
    },
  };
}

async function deleteAll(channel: Channel, name: string, topology: Topology): Promise<void> {
  if (topology.kind === 'fanout') await channel.deleteExchange(name);
  for (const q of queueNames(name, topology)) await channel.deleteQueue(q);
}

async function remove(name: string, topology: Topology): Promise<void> {
  const conn = await connect();
  try {
    await deleteAll(await conn.createChannel(), name, topology);
  } finally {
    await conn.close().catch(() => {});
  }
}
