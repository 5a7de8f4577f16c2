// What a sequence of log records means: the live messages and recent ids a queue recovers from.
// Shared by every storage implementation, so that they agree on what a log means. The Replayer folds
// records one at a time, so a store can keep only the live state instead of every record; and it
// keeps that state compact: a plain live message (priority 0, no expiry, no delay, never delivered,
// by far the common case in a backlog) costs one byte, not an object.
import { asSeq, type MessageId, type Seq } from '../node/ids.ts';
import { IdRing } from './id-ring.ts';
import type { Headers, LogRecord, MessageMeta, RecoveredMessage, RecoveredQueue, RecoveryReport, StreamMark } from './storage.ts';

/** Recent ids kept for the producer-dedup window; the queue's default window is this size. */
export const RECENT_IDS = 100_000;

type LiveMessage = { -readonly [K in keyof RecoveredMessage]: RecoveredMessage[K] };

export class Replayer {
  /**
   * seq - base → 1 when that seq is a live plain message. Enqueue seqs increase. The dead prefix is
   * dropped as the array would grow, so it spans the backlog of plain messages, not all seqs ever.
   */
  private plain = new Uint8Array(1024);
  private base: number | undefined;
  /** Below this index every entry of `plain` is 0. */
  private head = 0;
  /** Live messages that are not plain. */
  private readonly others = new Map<Seq, LiveMessage>();
  /** The last RECENT_IDS enqueues: cheap to keep up to date on every append (a mirrored leader does). */
  private readonly recent = new IdRing();
  private maxSeq = 0;
  /** The last record, if it was a mark. */
  private mark: StreamMark | undefined;

  apply(r: LogRecord): void {
    this.mark = undefined;
    switch (r.type) {
      case 'enqueue': {
        const { meta } = r;
        this.base ??= meta.seq;
        if (meta.priority === 0 && meta.expiresAt === undefined && meta.readyAt === undefined) this.setPlain(meta.seq, 1);
        else this.others.set(meta.seq, liveOf(meta));
        this.recent.push(dedupKey(meta.id, meta.headers), meta.seq, meta.enqueuedAt);
        if (this.recent.size > RECENT_IDS) this.recent.shift();
        if (meta.seq > this.maxSeq) this.maxSeq = meta.seq;
        break;
      }
      case 'delivered':
        for (const s of r.seqs) {
          const other = this.others.get(s);
          if (other) other.deliveryCount++;
          else if (this.isPlain(s)) {
            this.setPlain(s, 0);
            this.others.set(s, { seq: s, priority: 0, deliveryCount: 1 });
          }
        }
        break;
      case 'released':
        for (const s of r.seqs) {
          const other = this.others.get(s);
          if (other && other.deliveryCount > 0) other.deliveryCount--;
        }
        break;
      case 'remove':
        for (const s of r.seqs) {
          if (this.isPlain(s)) this.setPlain(s, 0);
          else this.others.delete(s);
        }
        break;
      case 'mark':
        this.mark = { epoch: r.epoch, lsn: r.lsn };
        break;
    }
  }

  /** Bytes kept for plain messages: in proportion to their backlog's span of seqs, not to all seqs ever. */
  get plainBytes(): number {
    return this.plain.length;
  }

  /** The highest seq applied so far (0 before any). */
  get highestSeq(): number {
    return this.maxSeq;
  }

  isLive(seq: Seq): boolean {
    return this.isPlain(seq) || this.others.has(seq);
  }

  result(report: RecoveryReport): RecoveredQueue {
    const recentIds = [...this.recent.entries<MessageId>()].map(({ id, seq, at }) => ({ id, seq: asSeq(seq), at }));
    const recovered = { messages: { [Symbol.iterator]: () => this.live() }, recentIds, nextSeq: asSeq(this.maxSeq + 1), report };
    // A log that recovery had to repair no longer holds exactly what its last mark tells of.
    const whole = report.droppedRecords === 0 && report.droppedBytes === 0;
    return this.mark && whole ? { ...recovered, mark: this.mark } : recovered;
  }

  /**
   * Live messages in seq order, made one at a time as they are read: never a second full set. The
   * others (delivered ones, with a priority, a TTL or a delay) merge in by seq, below the plain ones' span too.
   */
  private *live(): Generator<RecoveredMessage> {
    if (this.base === undefined) return;
    const others = [...this.others.keys()].sort((a, b) => a - b);
    let k = 0;
    for (let seq = this.base + this.head; seq <= this.maxSeq; seq++) {
      while (k < others.length && others[k]! < seq) yield { ...this.others.get(others[k++]!)! };
      if (this.plain[seq - this.base] === 1) yield { seq: asSeq(seq), priority: 0, deliveryCount: 0 };
    }
    while (k < others.length) yield { ...this.others.get(others[k++]!)! };
  }

  private isPlain(seq: Seq): boolean {
    return this.base !== undefined && this.plain[seq - this.base] === 1;
  }

  private setPlain(seq: Seq, flag: 0 | 1): void {
    let i = seq - this.base!;
    if (i < 0) throw new RangeError(`seq ${seq} is before the first seq ${this.base}`);
    if (i >= this.plain.length) {
      // Drop the dead prefix first; grow only if the span of live ones needs it.
      while (this.head < this.plain.length && this.plain[this.head] === 0) this.head++;
      if (this.head >= this.plain.length / 2) {
        this.plain.copyWithin(0, this.head);
        this.plain.fill(0, this.plain.length - this.head);
        this.base! += this.head;
        i -= this.head;
        this.head = 0;
      }
      if (i >= this.plain.length) {
        const grown = new Uint8Array(Math.max(this.plain.length * 2, i + 1));
        grown.set(this.plain);
        this.plain = grown;
      }
    }
    this.plain[i] = flag;
  }
}

function liveOf(meta: MessageMeta): LiveMessage {
  const m: LiveMessage = { seq: meta.seq, priority: meta.priority, deliveryCount: 0 };
  if (meta.expiresAt !== undefined) m.expiresAt = meta.expiresAt;
  if (meta.readyAt !== undefined) m.readyAt = meta.readyAt;
  return m;
}

/**
 * What producer dedup tells messages apart by: the id; for a dead letter, the id and where it died
 * (its queue, and its seq and enqueue time there), so that one message dead-lettered from two queues
 * (it came through a fanout) or twice from one (published again, dead again) makes two dead letters,
 * while a move retried after a crash makes one.
 */
export function dedupKey(id: MessageId, headers: Headers): MessageId {
  const queue = headers['x-death-queue'];
  const seq = headers['x-death-seq'];
  if (queue === undefined || seq === undefined) return id;
  // JSON: unambiguous, and text any store takes (PostgreSQL refuses NUL), as exactlyOnce's inboxes keep it.
  return JSON.stringify([id, queue, seq, headers['x-death-enqueued-at'] ?? '']) as MessageId;
}

export function replay(records: Iterable<LogRecord>, report: RecoveryReport): RecoveredQueue {
  const r = new Replayer();
  for (const record of records) r.apply(record);
  return r.result(report);
}

/**
 * The highest seq once `records` are appended to a log whose highest is `last`, or why they cannot be
 * (an enqueue whose seq does not follow): checked before anything is taken, so a bad append fails whole.
 */
export function seqAfter(records: readonly LogRecord[], last: number): { last: number } | { refused: string } {
  let highest = last;
  for (const r of records) {
    if (r.type !== 'enqueue') continue;
    if (!(r.meta.seq > highest)) return { refused: `enqueue seq ${r.meta.seq} does not follow ${highest}` };
    highest = r.meta.seq;
  }
  return { last: highest };
}
