// Mirrored queues' metadata in a NATS JetStream KV bucket, one key per queue. JetStream orders the
// writes of a key and `update` is conditional on the last revision: the compare-and-set the design
// needs, kept by a linearizable store instead of by Warren's nodes themselves.
import type { KV, NatsConnection } from 'nats';
import { z } from 'zod';
import { asNodeId, asQueue, type QueueName } from '../node/ids.ts';
import { CasConflict, type MetaStore, type QueueMeta, type Versioned } from './meta-store.ts';

const metaValue = z.strictObject({
  leader: z.string().min(1),
  epoch: z.number().int().nonnegative(),
  replicas: z.array(z.string().min(1)).min(1),
  inSync: z.array(z.string().min(1)).min(1),
  minInSync: z.number().int().positive(),
});

const key = (queue: string) => `m.${Buffer.from(queue).toString('base64url')}`;
const queueOf = (k: string) => asQueue(Buffer.from(k.slice(2), 'base64url').toString());
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KvMetaStore implements MetaStore {
  /** Entries that did not parse: written by something other than Warren, ignored. */
  rejected = 0;
  private readonly stops = new Set<() => void>();

  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, cluster: string): Promise<KvMetaStore> {
    return new KvMetaStore(await nc.jetstream().views.kv(`warren_${cluster}_ha`, { history: 1 }));
  }

  async get(queue: QueueName): Promise<Versioned | undefined> {
    const e = await this.kv.get(key(queue));
    return e?.operation === 'PUT' ? this.parse(e.value, e.revision) : undefined;
  }

  async create(queue: QueueName, meta: QueueMeta): Promise<Versioned> {
    try {
      return { meta, revision: await this.kv.create(key(queue), encoder.encode(JSON.stringify(meta))) };
    } catch (err) {
      const existing = await this.get(queue);
      if (existing) return existing;
      throw err;
    }
  }

  async update(queue: QueueName, meta: QueueMeta, revision: number): Promise<Versioned> {
    try {
      return { meta, revision: await this.kv.update(key(queue), encoder.encode(JSON.stringify(meta)), revision) };
    } catch (err) {
      // JetStream answers a stale revision with 'wrong last sequence'.
      if (/wrong last sequence/i.test(String((err as Error)?.message))) throw new CasConflict(queue);
      throw err;
    }
  }

  async delete(queue: QueueName): Promise<void> {
    await this.kv.delete(key(queue));
  }

  watch(listener: (queue: QueueName, v: Versioned | undefined) => void): () => void {
    let stopped = false;
    let stopWatch = () => { stopped = true; };
    void this.kv.watch({ key: 'm.>' }).then(async (w) => {
      if (stopped) return w.stop();
      stopWatch = () => w.stop();
      for await (const e of w) {
        if (e.operation !== 'PUT') listener(queueOf(e.key), undefined);
        else {
          const v = this.parse(e.value, e.revision);
          if (v) listener(queueOf(e.key), v);
        }
      }
    }).catch(() => {});
    const stop = () => { stopped = true; stopWatch(); this.stops.delete(stop); };
    this.stops.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    for (const stop of [...this.stops]) stop();
  }

  private parse(value: Uint8Array, revision: number): Versioned | undefined {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(value));
    } catch {
      json = undefined;
    }
    const parsed = metaValue.safeParse(json);
    if (!parsed.success) {
      this.rejected++;
      return undefined;
    }
    const m = parsed.data;
    return { revision, meta: { ...m, leader: asNodeId(m.leader), replicas: m.replicas.map(asNodeId), inSync: m.inSync.map(asNodeId) } };
  }
}
