// The metadata store of one process: the same compare-and-set contract as the KV store, for embedded
// use and for tests of the replication logic without a server.
import type { QueueName } from '../node/ids.ts';
import { CasConflict, type MetaStore, type QueueMeta, type Versioned } from './meta-store.ts';

export class MemoryMetaStore implements MetaStore {
  private readonly entries = new Map<QueueName, Versioned>();
  private readonly listeners = new Set<(queue: QueueName, v: Versioned | undefined) => void>();
  private revision = 0;

  async get(queue: QueueName): Promise<Versioned | undefined> {
    return this.entries.get(queue);
  }

  async create(queue: QueueName, meta: QueueMeta): Promise<Versioned> {
    return this.entries.get(queue) ?? this.put(queue, meta);
  }

  async update(queue: QueueName, meta: QueueMeta, revision: number): Promise<Versioned> {
    if (this.entries.get(queue)?.revision !== revision) throw new CasConflict(queue);
    return this.put(queue, meta);
  }

  async delete(queue: QueueName): Promise<void> {
    if (!this.entries.delete(queue)) return;
    this.revision++;
    for (const l of this.listeners) l(queue, undefined);
  }

  watch(listener: (queue: QueueName, v: Versioned | undefined) => void): () => void {
    for (const [q, v] of this.entries) listener(q, v);
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private put(queue: QueueName, meta: QueueMeta): Versioned {
    const v = { meta, revision: ++this.revision };
    this.entries.set(queue, v);
    for (const l of this.listeners) l(queue, v);
    return v;
  }
}
