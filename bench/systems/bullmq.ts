// BullMQ on Redis. A job is a message; the worker's processor returning is the ack (the job moves
// to completed and, with removeOnComplete, is deleted). Worker concurrency is the prefetch. BullMQ has
// no exchanges: W2 adds every message to each of the 4 queues, and it counts as confirmed when all 4
// adds returned.
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { CONNECT_TIMEOUT_MS, peers } from '../peers.ts';
import { findPid } from '../rss.ts';
import { queueNames } from '../topology.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';

// BullMQ's workers block on Redis and must retry forever rather than fail a command.
const connection = { host: peers.redisHost, port: peers.redisPort, maxRetriesPerRequest: null };
const JOB = 'm';

/** The body is ASCII (see payload.ts), so latin1 carries it byte for byte inside the JSON job data. */
type JobData = string;

export const bullmq: System = {
  async probe(): Promise<ServerInfo> {
    const redis = new Redis({ host: peers.redisHost, port: peers.redisPort, lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 1, retryStrategy: () => null });
    // connect() only says "Connection is closed."; the socket's error says why.
    let cause: Error | undefined;
    redis.on('error', (e: Error) => (cause ??= e));
    try {
      await redis.connect().catch((e: unknown) => {
        throw new Error(`Redis ${peers.redisHost}:${peers.redisPort}: ${(cause ?? (e instanceof Error ? e : new Error(String(e)))).message}`);
      });
      const version = field(await redis.info('server'), 'redis_version');
      const aof = field(await redis.info('persistence'), 'aof_enabled') === '1';
      const fsync = aof ? ((await redis.config('GET', 'appendfsync')) as string[])[1] : undefined;
      return {
        server: `Redis ${version ?? 'unknown version'} (BullMQ ${await bullmqVersion()})`,
        durability: aof
          ? `a job add returns once Redis executed it; AOF on, appendfsync ${fsync ?? 'unknown'}`
          : 'a job add returns once Redis executed it in memory; AOF off, so only RDB snapshots reach disk',
        fanout: 'no exchanges in BullMQ: each message is added to each of 4 queues (4 adds, confirmed when all 4 returned), one worker per queue',
      };
    } finally {
      redis.disconnect();
    }
  },

  async open(name: string, topology: Topology): Promise<Session> {
    const queues = queueNames(name, topology).map((q) => new Queue<JobData>(q, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } }));
    const workers: Worker<JobData>[] = [];

    return {
      publish: async (body) => {
        const data = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
        await Promise.all(queues.map((q) => q.add(JOB, data)));
      },

      async consume(index: number, prefetch: number, onMessage: (d: Delivery) => void): Promise<void> {
        // The ack resolves when BullMQ reports the job completed, i.e. after its move in Redis.
        const completed = new Map<string, () => void>();
        const worker = new Worker<JobData>(queues[index]!.name, (job: Job<JobData>) => new Promise<void>((processed) => {
          onMessage({
            body: Buffer.from(job.data, 'latin1'),
            ack: () => new Promise<void>((acked) => {
              completed.set(job.id!, acked);
              processed();
            }),
          });
        }), { connection, concurrency: prefetch });
        worker.on('completed', (job) => {
          completed.get(job.id!)?.();
          completed.delete(job.id!);
        });
        workers.push(worker);
        await worker.waitUntilReady();
      },

      serverPid: () => findPid('redis-server'),

      async close(): Promise<void> {
        for (const w of workers) await w.close().catch(() => {});
        for (const q of queues) {
          await q.obliterate({ force: true }).catch(() => {});
          await q.close().catch(() => {});
        }
      },
    };
  },

  async remove(name: string, topology: Topology): Promise<void> {
    for (const q of queueNames(name, topology)) {
      const queue = new Queue(q, { connection });
      try {
        await queue.obliterate({ force: true });
      } finally {
        await queue.close();
      }
    }
  },
};

function field(info: string, key: string): string | undefined {
  return new RegExp(`^${key}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

async function bullmqVersion(): Promise<string> {
  const { createRequire } = await import('node:module');
  const pkg = createRequire(import.meta.url)('bullmq/package.json') as { version: string };
  return pkg.version;
}
