// NATS JetStream through the `nats` client: a file-storage stream and durable pull consumers with
// explicit acks. W1: a work-queue stream (an acked message is removed, like a queue). W2: one
// interest-retention stream with 4 durable consumers — a message is kept until all 4 acked it, which
// is what a fanout exchange to 4 queues does; one publish, one PubAck per message.
import { AckPolicy, connect, RetentionPolicy, StorageType, type ConsumerMessages, type NatsConnection } from 'nats';
import { CONNECT_TIMEOUT_MS, peers } from '../peers.ts';
import { findPid } from '../rss.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';

function open(name: string): Promise<NatsConnection> {
  // The client's own errors (e.g. CONNECTION_REFUSED) do not say where it tried.
  return connect({ servers: peers.natsUrl, timeout: CONNECT_TIMEOUT_MS, name }).catch((e: unknown) => {
    throw new Error(`NATS ${peers.natsUrl}: ${e instanceof Error ? e.message : String(e)}`);
  });
}

/** Stream names may not contain '.', so the run's name is used as is for both stream and subject. */
function consumerName(index: number): string {
  return `c${index}`;
}

export const jetstream: System = {
  async probe(): Promise<ServerInfo> {
    const nc = await open('warren-bench-probe');
    try {
      await (await nc.jetstreamManager()).getAccountInfo();
      return {
        server: `NATS ${nc.info?.version ?? 'unknown version'} (JetStream)`,
        durability: 'file storage; the PubAck is sent once the message is written to the stream file, and the server fsyncs every sync_interval (default 2 min), not per message',
        fanout: 'one interest-retention stream with 4 durable consumers (a message is removed once all 4 acked it); one publish, one PubAck',
      };
    } finally {
      await nc.close();
    }
  },

  async open(name: string, topology: Topology): Promise<Session> {
    const producer = await open(`${name}-producer`);
    let consumers: NatsConnection | undefined;
    const subscriptions: ConsumerMessages[] = [];
    try {
      const jsm = await producer.jetstreamManager();
      await jsm.streams.add({
        name,
        subjects: [name],
        retention: topology.kind === 'queue' ? RetentionPolicy.Workqueue : RetentionPolicy.Interest,
        storage: StorageType.File,
      });
    } catch (e) {
      await producer.close();
      throw e;
    }
    const js = producer.jetstream();

    return {
      publish: async (body) => {
        await js.publish(name, body);
      },

      async consume(index: number, prefetch: number, onMessage: (d: Delivery) => void): Promise<void> {
        consumers ??= await open(`${name}-consumers`);
        const jsm = await producer.jetstreamManager();
        // max_ack_pending is JetStream's prefetch: no more than that many delivered and unacked.
        await jsm.consumers.add(name, { durable_name: consumerName(index), ack_policy: AckPolicy.Explicit, max_ack_pending: prefetch });
        const messages = await consumers.jetstream().consumers.get(name, consumerName(index)).then((c) => c.consume({ max_messages: prefetch }));
        subscriptions.push(messages);
        void (async () => {
          for await (const m of messages) onMessage({ body: m.data, ack: () => m.ack() });
        })();
      },

      serverPid: () => findPid('nats-server'),

      async close(): Promise<void> {
        for (const s of subscriptions) await s.close().catch(() => {});
        // Flushes the acks still buffered in the client before the connection goes.
        await consumers?.drain().catch(() => {});
        await remove(producer, name);
        await producer.close();
      },
    };
  },

  async remove(name: string): Promise<void> {
    const nc = await open(`${name}-cleanup`);
    try {
      await remove(nc, name);
    } finally {
      await nc.close();
    }
  },
};

/** Deleting the stream deletes its consumers; a stream that was never made is fine. */
async function remove(nc: NatsConnection, name: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(name).catch(() => false);
}
