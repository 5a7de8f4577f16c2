// The storage contract. A queue's log holds what the queue must not forget: enqueued messages, their
// deliveries (so that a restart marks them redelivered) and their removal (ack, dead-letter, expiry).
// Implementations: memory-store.ts (':memory:' and tests) and the durable file log.
import type { MessageId, QueueName, Seq } from '../node/ids.ts';

export type Headers = Readonly<Record<string, string>>;

/** Everything about a message except its body, which may live on disk only. */
export interface MessageMeta {
  readonly seq: Seq;
  readonly id: MessageId;
  readonly headers: Headers;
  readonly priority: number;
  readonly enqueuedAt: number;
  /** Absolute ms since epoch after which the message expires (message TTL). */
  readonly expiresAt?: number;
  /** Absolute ms since epoch before which the message is not delivered (delayed delivery). */
  readonly readyAt?: number;
  /** Body size in bytes. */
  readonly size: number;
}

/** In the order of their codes on disk (record-codec.ts): new reasons go at the end. */
export const REMOVE_REASONS = ['ack', 'dead-letter', 'expired', 'dropped', 'purged'] as const;
export type RemoveReason = (typeof REMOVE_REASONS)[number];

/**
 * A mirror's place in its leader's stream of appends (replication/quorum.ts), as the mirror's log
 * holds it: the leader's epoch, and the lsn of the last append whose records are all before the mark.
 */
export interface StreamMark {
  readonly epoch: number;
  readonly lsn: number;
}

export type LogRecord =
  | { readonly type: 'enqueue'; readonly meta: MessageMeta; readonly body: Uint8Array }
  | { readonly type: 'delivered'; readonly seqs: readonly Seq[] }
  /** Deliveries that did not count: the consumer gave the messages back unseen (released, never handled). */
  | { readonly type: 'released'; readonly seqs: readonly Seq[] }
  | { readonly type: 'remove'; readonly seqs: readonly Seq[]; readonly reason: RemoveReason }
  /** Written by a mirror after the records of each frame that ends an append; no part of the queue's state. */
  | ({ readonly type: 'mark' } & StreamMark);

/**
 * What a queue keeps of a message in memory: enough to order, delay, expire and count it. The id,
 * headers and body are read back from the log when the message is delivered, so a long backlog
 * costs a few numbers per message.
 */
export interface MessageSlot {
  readonly seq: Seq;
  readonly priority: number;
  readonly expiresAt?: number;
  readonly readyAt?: number;
}

export interface RecoveredMessage extends MessageSlot {
  /** Deliveries recorded before the restart; > 0 means it comes back as redelivered. */
  readonly deliveryCount: number;
}

export interface StoredMessage {
  readonly meta: MessageMeta;
  readonly body: Uint8Array;
}

export interface RecoveryReport {
  /** Records dropped because they were torn or failed their checksum. */
  readonly droppedRecords: number;
  readonly droppedBytes: number;
  readonly problems: readonly string[];
}

export interface RecoveredQueue {
  /** Live (not removed) messages in seq order, made as they are read (never held all at once). */
  readonly messages: Iterable<RecoveredMessage>;
  /** Ids seen recently (their dedup keys: replay.ts), removed ones included, oldest first: they seed the producer dedup window. */
  readonly recentIds: readonly { readonly id: MessageId; readonly seq: Seq; readonly at: number }[];
  /** The next free seq (1 for an empty log). */
  readonly nextSeq: Seq;
  readonly report: RecoveryReport;
  /**
   * Messages below this seq may have been delivered with no 'delivered' record to show for it (a
   * mirrored queue's leader delivers once a message is committed, not its delivery; a plain queue
   * delivers before the write, and its log was not closed cleanly): their next delivery counts one
   * more, so that it is flagged redelivered.
   */
  readonly uncertainBelow?: Seq;
  /**
   * The last mark, when it is the log's last record and the log recovered whole (nothing dropped):
   * then the log holds exactly the stream up to it, after a crash as after a clean close.
   */
  readonly mark?: StreamMark;
}

/** A delivered or remove record lists at most this many seqs (256 KiB): a record fits in any replicate frame (whole records travel, never parts of one). */
export const MAX_SEQS_PER_RECORD = 32 * 1024;

/** Seqs in runs of at most MAX_SEQS_PER_RECORD: one record each (none for no seqs). */
export function seqRuns(seqs: readonly Seq[]): Seq[][] {
  if (seqs.length <= MAX_SEQS_PER_RECORD) return seqs.length === 0 ? [] : [seqs as Seq[]];
  const runs: Seq[][] = [];
  for (let at = 0; at < seqs.length; at += MAX_SEQS_PER_RECORD) runs.push(seqs.slice(at, at + MAX_SEQS_PER_RECORD));
  return runs;
}

export interface AppendOptions {
  /**
   * Nothing waits on these records but the appends after them (settlements of a queue that delivers
   * before its commit): they may wait a few milliseconds for an append that is not deferrable to carry
   * them, so that a W1 window costs one write and one sync, not one per settlement.
   */
  readonly deferrable?: boolean;
  /** The records as frameRecords() framed them: a log that stores frames writes these bytes. */
  readonly framed?: Framed;
  /** A log that stores frames says where the append's bytes start, once written (QueueLog.readPlaced). */
  readonly onPlaced?: (place: LogPlace) => void;
}

/** Where bytes sit in a log that stores frames: a segment, and an offset in it. */
export interface LogPlace {
  readonly segment: number;
  readonly offset: number;
}

/** Records in their on-disk form (record-codec), with each one's framed length, in order. */
export interface Framed {
  readonly bytes: Uint8Array;
  readonly lengths: readonly number[];
}

export interface QueueLog {
  /** Reads back what the log holds. Called once, before the first append. */
  recover(): Promise<RecoveredQueue>;
  /**
   * Appends records in order. Resolves when they are durable under the storage's fsync policy
   * ('always': fdatasync'd; 'batch': written, synced within a bounded interval). Appends are grouped:
   * records appended while a sync runs share the next sync.
   */
  append(records: readonly LogRecord[], options?: AppendOptions): Promise<void>;
  /**
   * Live messages as stored, in the order asked, for messages the queue did not keep in memory.
   * Asking for many at once lets the log read neighbours together.
   */
  read(seqs: readonly Seq[]): Promise<StoredMessage[]>;
  /**
   * `length` bytes as written from `place` (AppendOptions.onPlaced), in a log that stores frames;
   * undefined once compaction took their segment, or where they cannot be read.
   */
  readPlaced?(place: LogPlace, length: number): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
  /** Closes and deletes the log (queue deleted). */
  destroy(): Promise<void>;
}

/** Durable declarations: what `declareQueue`, `declareExchange` and `bindQueue` made. */
export interface TopologySnapshot {
  readonly queues: readonly { readonly name: string; readonly options: Readonly<Record<string, unknown>> }[];
  readonly exchanges: readonly { readonly name: string; readonly type: string }[];
  readonly bindings: readonly { readonly exchange: string; readonly queue: string; readonly pattern: string }[];
}

export interface Storage {
  openQueue(name: QueueName): Promise<QueueLog>;
  /** Removes a queue's data as it is, whether its log would open or not; a file store refuses while the queue's log is open. */
  destroyQueue(name: QueueName): Promise<void>;
  /** The queues whose data is here, open or not (a file store: those whose folder name tells the queue's). */
  storedQueues(): Promise<QueueName[]>;
  /**
   * The id of the node whose data this is: `given`, or else the one kept here, or else `fresh()`; kept
   * from now on. A node started without an id is then the node it was last time (its queues' home in
   * a cluster).
   */
  nodeId(given: string | undefined, fresh: () => string): Promise<string>;
  loadTopology(): Promise<TopologySnapshot | undefined>;
  saveTopology(topology: TopologySnapshot): Promise<void>;
  close(): Promise<void>;
}

export type FsyncPolicy = 'always' | 'batch';
