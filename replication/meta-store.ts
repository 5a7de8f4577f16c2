// Where a mirrored queue's metadata lives: {leader, epoch, replicas, inSync}, changed only by
// compare-and-set on the revision, so two nodes that race (a takeover and a lease renewal, two
// takeovers) get one winner. Distributed: NATS JetStream KV (kv-meta-store.ts); embedded and in tests:
// memory (memory-meta-store.ts). The leader renews its lease by writing the same metadata again: a
// revision that does not move for a lease's length means the leader is gone.
import type { NodeId, QueueName } from '../node/ids.ts';

export interface QueueMeta {
  readonly leader: NodeId;
  /** Raised by every change of leader; frames, deliveries and settlements of an older epoch are refused. */
  readonly epoch: number;
  /** The leader and its mirrors, on distinct nodes; fixed when the queue is declared. */
  readonly replicas: readonly NodeId[];
  /**
   * Replicas streaming from the leader, always including it: a quorum of them holds every confirmed
   * message (quorum.ts). Only these may lead.
   */
  readonly inSync: readonly NodeId[];
  /** Replicas (leader included) that must hold a message before it is confirmed. */
  readonly minInSync: number;
}

export interface Versioned {
  readonly meta: QueueMeta;
  readonly revision: number;
}

/** The revision moved: someone else wrote first. Read again and decide again. */
export class CasConflict extends Error {
  constructor(queue: string) {
    super(`queue '${queue}': metadata changed concurrently`);
    this.name = 'CasConflict';
  }
}

export interface MetaStore {
  get(queue: QueueName): Promise<Versioned | undefined>;
  /** Creates the metadata unless it exists; returns what is stored either way. */
  create(queue: QueueName, meta: QueueMeta): Promise<Versioned>;
  /** Writes if the stored revision is still `revision`; throws CasConflict otherwise. */
  update(queue: QueueName, meta: QueueMeta, revision: number): Promise<Versioned>;
  /** Removes the metadata (the queue was deleted); a no-op when there is none. */
  delete(queue: QueueName): Promise<void>;
  /**
   * The latest state of every entry, then every write (this node's included) as it becomes visible
   * here; `undefined` when the entry was deleted.
   */
  watch(listener: (queue: QueueName, v: Versioned | undefined) => void): () => void;
  close(): Promise<void>;
}
