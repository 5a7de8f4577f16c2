// The queue as a state machine: commands in, effects out. Deterministic and free of I/O (the clock
// comes in with each command), so property tests drive it directly and the queue actor only carries
// out the effects. It mutates its own structures in place to stay O(1) per message; if it ever threw,
// the queue actor restarts it from the log.
import { asSeq, type ConsumerTag, type MessageId, type QueueName, type Seq } from '../node/ids.ts';
import { MAX_SEQS_PER_RECORD, seqRuns, type Headers, type LogRecord, type MessageMeta, type RecoveredQueue, type RemoveReason } from '../storage/storage.ts';
import { dedupKey } from '../storage/replay.ts';
import { DedupWindow } from './dedup-window.ts';
import { DelayedSet } from './delayed-set.ts';
import { ReadySet } from './ready-set.ts';

export type OverflowPolicy = 'reject-publish' | 'drop-head' | 'dead-letter-head';

export interface QueueConfig {
  readonly name: QueueName;
  readonly maxDeliveries: number;
  readonly messageTtlMs?: number;
  readonly maxLength?: number;
  readonly overflow: OverflowPolicy;
  readonly singleActiveConsumer: boolean;
  /** Set explicitly by the user: then expired messages are dead-lettered too, as in RabbitMQ. */
  readonly deadLetterQueue?: QueueName;
  readonly dedupWindow: { readonly count: number; readonly ms: number };
}

/** Effects name an item back by its index in the command's items (its `ref`). */
export interface PublishItem {
  readonly id: MessageId;
  /** Passed through to the log record untouched: the machine never reads a body. */
  readonly body: Uint8Array;
  readonly headers: Headers;
  readonly priority: number;
  readonly size: number;
  readonly delayMs?: number;
  /** Its own TTL, counted from the publish: the lower of it and the queue's applies. */
  readonly ttlMs?: number;
  /**
   * The id was made for this one call, in this process, which no retry resends (a local publish
   * without an id): it cannot be a duplicate, and the dedup window need not keep it. Ids that
   * cross NATS are always kept: a client resends them when a confirm is lost.
   */
  readonly fresh?: boolean;
}

export type Outcome = 'ack' | 'requeue' | 'dead-letter';

export interface Settlement {
  readonly seq: Seq;
  readonly outcome: Outcome;
  /** With 'requeue': deliver again no sooner than this. */
  readonly delayMs?: number;
}

export type QueueCommand =
  | { readonly type: 'publish'; readonly now: number; readonly items: readonly PublishItem[] }
  | { readonly type: 'subscribe'; readonly now: number; readonly consumer: ConsumerTag; readonly prefetch: number }
  /** `unseen`: what it holds that no handler had (a prefetch left behind): those deliveries do not count. */
  | { readonly type: 'cancel'; readonly now: number; readonly consumer: ConsumerTag; readonly unseen: readonly Seq[] }
  | { readonly type: 'settle'; readonly now: number; readonly consumer: ConsumerTag; readonly items: readonly Settlement[] }
  /** After a reconnect: the consumer says what it holds; deliveries lost on the way go back in line. */
  | { readonly type: 'reconcile'; readonly now: number; readonly consumer: ConsumerTag; readonly holds: readonly Seq[] }
  | { readonly type: 'tick'; readonly now: number }
  /** Removes every message waiting (ready or delayed), as RabbitMQ's queue.purge; unacked ones stay. */
  | { readonly type: 'purge'; readonly now: number }
  /** Whether the queue may be deleted (queue.delete's if-unused, if-empty); the machine itself is left as it is. */
  | { readonly type: 'delete'; readonly now: number; readonly ifUnused: boolean; readonly ifEmpty: boolean };

export type DeadLetterReason = 'rejected' | 'delivery-limit' | 'expired' | 'maxlen';


export interface Delivered {
  readonly seq: Seq;
  readonly deliveryCount: number;
}

export interface DeadLettered {
  readonly seq: Seq;
  readonly reason: DeadLetterReason;
  readonly deliveryCount: number;
}

export type QueueEffect =
  /** Append to the log, in order. */
  | { readonly type: 'append'; readonly records: readonly LogRecord[] }
  /** Confirm once every record appended so far is durable. */
  | { readonly type: 'confirm'; readonly ref: number; readonly seq: Seq; readonly duplicate: boolean }
  | { readonly type: 'refuse'; readonly ref: number; readonly reason: 'overflow' }
  | { readonly type: 'deliver'; readonly consumer: ConsumerTag; readonly messages: readonly Delivered[] }
  /** Move to the dead-letter queue; once there, append their removal (reason 'dead-letter'). */
  | { readonly type: 'dead-letter'; readonly messages: readonly DeadLettered[] }
  /** Settlements naming messages this consumer does not hold (stale: taken back, or never its own). */
  | { readonly type: 'stale'; readonly consumer: ConsumerTag; readonly seqs: readonly Seq[] }
  /** The purge removed this many messages (their remove records are in this command's append). */
  | { readonly type: 'purged'; readonly count: number }
  /** The queue may go: it held this many messages (ready, delayed and unacked). */
  | { readonly type: 'deletable'; readonly held: number }
  /** A precondition of the delete failed. */
  | { readonly type: 'undeletable'; readonly why: 'in-use' | 'not-empty'; readonly count: number };

/**
 * What the machine keeps per message: a few numbers (see MessageSlot), not its id, headers or body.
 * A plain message (priority 0, no expiry, no delay, never delivered) has no entry at all: its seq in
 * the ready line says all there is, so a long backlog costs a few bytes per message.
 */
interface Entry {
  readonly priority: number;
  readonly expiresAt: number | undefined;
  /** Not before: set at publish (delayMs) or by a delayed requeue. */
  readyAt: number | undefined;
  deliveries: number;
  holder: ConsumerTag | undefined}

interface ConsumerState {
  readonly prefetch: number;
  readonly held: Set<Seq>;
}

export interface QueueCounters {
  published: number;
  duplicates: number;
  refused: number;
  delivered: number;
  redelivered: number;
  acked: number;
  deadLettered: number;
  expired: number;
  dropped: number;
  staleSettlements: number;
}

export interface QueueSnapshot {
  readonly ready: number;
  readonly delayed: number;
  readonly unacked: number;
  readonly consumers: number;
  readonly counters: Readonly<QueueCounters>;
}

export class QueueMachine {
  private readonly entries = new Map<Seq, Entry>();
  private static readonly plain: Readonly<Entry> = Object.freeze({ priority: 0, expiresAt: undefined, readyAt: undefined, deliveries: 0, holder: undefined });
  private readonly ready = new ReadySet();
  private readonly delayed = new DelayedSet();
  private readonly consumers = new Map<ConsumerTag, ConsumerState>();
  /** Subscription order: round-robin, and the single active consumer is the first. */
  private order: ConsumerTag[] = [];
  private cursor = 0;
  /** Some message has an expiry (the queue's TTL, its own, or one recovered): heads must be looked at. */
  private mayExpire = false;
  private readonly dedup: DedupWindow;
  private nextSeq: number;
  /** See RecoveredQueue.uncertainBelow. */
  private readonly uncertainBelow: Seq;
  private effects: QueueEffect[] = [];
  private records: LogRecord[] = [];
  private deadLetters: DeadLettered[] = [];
  readonly counters: QueueCounters = {
    published: 0, duplicates: 0, refused: 0, delivered: 0, redelivered: 0,
    acked: 0, deadLettered: 0, expired: 0, dropped: 0, staleSettlements: 0,
  };

  constructor(readonly config: QueueConfig, recovered?: RecoveredQueue, now = 0) {
    this.nextSeq = recovered?.nextSeq ?? 1;
    this.uncertainBelow = recovered?.uncertainBelow ?? (0 as Seq);
    this.dedup = new DedupWindow(config.dedupWindow.count, config.dedupWindow.ms);
    for (const r of recovered?.recentIds ?? []) this.dedup.remember(r.id, r.seq, r.at);
    for (const m of recovered?.messages ?? []) {
      this.track(m.seq, m.priority, m.expiresAt, m.readyAt, m.deliveryCount);
      if (m.readyAt !== undefined && m.readyAt > now) this.delayed.add(m.seq, m.readyAt);
      else if (m.deliveryCount > 0) this.ready.pushReturned(m.seq, m.priority);
      else this.ready.pushFresh(m.seq, m.priority);
    }
  }

  handle(cmd: QueueCommand): QueueEffect[] {
    // A verdict only: nothing is appended, delivered or expired on the way out.
    if (cmd.type === 'delete') return [this.deletion(cmd.ifUnused, cmd.ifEmpty)];
    // The clock first: what is due or expired at `now` is so before the command sees the queue, or a
    // publish to a full queue would be refused (or drop a live head) for messages already expired.
    this.advance(cmd.now);
    switch (cmd.type) {
      case 'publish': this.publish(cmd.now, cmd.items); break;
      case 'subscribe': this.subscribe(cmd.consumer, cmd.prefetch); break;
      case 'cancel': this.cancel(cmd.now, cmd.consumer, cmd.unseen); break;
      case 'settle': this.settle(cmd.now, cmd.consumer, cmd.items); break;
      case 'reconcile': this.reconcile(cmd.now, cmd.consumer, cmd.holds); break;
      case 'purge': this.purge(); break;
      case 'tick': break;
    }
    // Again after: messages the command gave back may be past their TTL already.
    this.advance(cmd.now);
    this.dispatch(cmd.now);
    return this.flush();
  }

  snapshot(): QueueSnapshot {
    return {
      ready: this.ready.size,
      delayed: this.delayed.size,
      unacked: [...this.consumers.values()].reduce((n, c) => n + c.held.size, 0),
      consumers: this.consumers.size,
      counters: { ...this.counters },
    };
  }

  /** When the machine next has something to do on its own (a delay ends, a head expires). */
  nextWakeup(): number | undefined {
    const times: number[] = [];
    const first = this.delayed.nextReadyAt();
    if (first !== undefined) times.push(first);
    for (const seq of this.ready.heads()) {
      const exp = this.entry(seq).expiresAt;
      if (exp !== undefined) times.push(exp);
    }
    return times.length ? Math.min(...times) : undefined;
  }

  /** Messages a consumer holds, in seq order. */
  heldBy(consumer: ConsumerTag): Seq[] {
    return [...(this.consumers.get(consumer)?.held ?? [])].sort((a, b) => a - b);
  }

  private publish(now: number, items: readonly PublishItem[]): void {
    this.dedup.evict(now);
    for (let ref = 0; ref < items.length; ref++) {
      const item = items[ref]!;
      const key = dedupKey(item.id, item.headers);
      const seen = item.fresh ? undefined : this.dedup.get(key);
      if (seen !== undefined) {
        this.counters.duplicates++;
        this.effects.push({ type: 'confirm', ref, seq: seen, duplicate: true });
        continue;
      }
      const { maxLength, overflow } = this.config;
      const full = maxLength !== undefined && this.waiting() >= maxLength;
      if (full && overflow === 'reject-publish') {
        this.counters.refused++;
        this.effects.push({ type: 'refuse', ref, reason: 'overflow' });
        continue;
      }
      // drop-head and dead-letter-head: the head goes to make room; with nothing waiting (maxLength 0)
      // the message itself, once in line, as RabbitMQ does (its publish is still confirmed).
      const roomMade = full && this.makeRoom();
      const seq = asSeq(this.nextSeq++);
      // A TTL counts from the publish, a delay included: so expiry keeps to line order under the queue's TTL.
      const meta: MessageMeta = {
        seq, id: item.id, headers: item.headers, priority: item.priority, enqueuedAt: now, size: item.size,
        expiresAt: this.expiryOf(now, item.ttlMs), readyAt: item.delayMs ? now + item.delayMs : undefined,
      };
      this.track(seq, meta.priority, meta.expiresAt, meta.readyAt, 0);
      if (meta.readyAt !== undefined) this.delayed.add(seq, meta.readyAt);
      else this.ready.pushFresh(seq, meta.priority);
      if (!item.fresh) this.dedup.remember(key, seq, now);
      this.counters.published++;
      this.records.push({ type: 'enqueue', meta, body: item.body });
      if (full && !roomMade) this.makeRoom();
      this.effects.push({ type: 'confirm', ref, seq, duplicate: false });
    }
    this.dedup.evict(now);
  }

  private purge(): void {
    let count = 0;
    for (let seq = this.ready.shift() ?? this.delayed.shift(); seq !== undefined; seq = this.ready.shift() ?? this.delayed.shift()) {
      this.remove(seq, 'purged');
      count++;
    }
    this.effects.push({ type: 'purged', count });
  }

  private deletion(ifUnused: boolean, ifEmpty: boolean): QueueEffect {
    const { ready, delayed, unacked, consumers } = this.snapshot();
    const held = ready + delayed + unacked;
    if (ifUnused && consumers > 0) return { type: 'undeletable', why: 'in-use', count: consumers };
    if (ifEmpty && held > 0) return { type: 'undeletable', why: 'not-empty', count: held };
    return { type: 'deletable', held };
  }

  /** drop-head / dead-letter-head: frees one place by removing the next message in line. */
  private makeRoom(): boolean {
    const head = this.ready.shift() ?? this.delayed.shift();
    if (head === undefined) return false;
    if (this.config.overflow === 'dead-letter-head') this.deadLetter(head, 'maxlen');
    else this.remove(head, 'dropped');
    return true;
  }

  private subscribe(consumer: ConsumerTag, prefetch: number): void {
    if (this.consumers.has(consumer)) return;
    this.consumers.set(consumer, { prefetch, held: new Set() });
    this.order.push(consumer);
  }

  private cancel(now: number, consumer: ConsumerTag, unseen: readonly Seq[]): void {
    const c = this.consumers.get(consumer);
    if (!c) return;
    const uncounted = new Set(unseen);
    const released: Seq[] = [];
    for (const seq of [...c.held].sort((a, b) => a - b)) {
      if (!uncounted.has(seq)) {
        this.giveBack(now, seq, 0);
        continue;
      }
      // Never handed to a handler: back in its place, and the delivery does not count (as RabbitMQ 4.3 counts).
      const e = this.entries.get(seq)!;
      e.holder = undefined;
      if (e.deliveries > 0) e.deliveries--;
      this.ready.pushReturned(seq, e.priority);
      released.push(seq);
    }
    for (const seqs of seqRuns(released)) this.records.push({ type: 'released', seqs });
    this.consumers.delete(consumer);
    const i = this.order.indexOf(consumer);
    this.order.splice(i, 1);
    if (this.cursor > i) this.cursor--;
  }

  private settle(now: number, consumer: ConsumerTag, items: readonly Settlement[]): void {
    const c = this.consumers.get(consumer);
    const stale: Seq[] = [];
    for (const { seq, outcome, delayMs } of items) {
      const e = this.entries.get(seq);
      if (!c || !e || e.holder !== consumer) {
        stale.push(seq);
        continue;
      }
      c.held.delete(seq);
      e.holder = undefined;
      if (outcome === 'ack') {
        this.counters.acked++;
        this.remove(seq, 'ack');
      } else if (outcome === 'dead-letter') {
        this.deadLetter(seq, 'rejected');
      } else {
        this.giveBack(now, seq, delayMs ?? 0);
      }
    }
    if (stale.length) {
      this.counters.staleSettlements += stale.length;
      this.effects.push({ type: 'stale', consumer, seqs: stale });
    }
  }

  private reconcile(now: number, consumer: ConsumerTag, holds: readonly Seq[]): void {
    const kept = new Set(holds);
    for (const seq of this.heldBy(consumer)) if (!kept.has(seq)) this.giveBack(now, seq, 0);
  }

  /** A delivered message comes back: to its place in line, or to dead letters past maxDeliveries. */
  private giveBack(now: number, seq: Seq, delayMs: number): void {
    // Delivered messages always have an entry (dispatch keeps one).
    const e = this.entries.get(seq);
    if (!e) throw new Error(`queue '${this.config.name}': seq ${seq} was never delivered`);
    const c = e.holder && this.consumers.get(e.holder);
    c && c.held.delete(seq);
    e.holder = undefined;
    if (this.deliveriesOf(seq, e) >= this.config.maxDeliveries) return this.deadLetter(seq, 'delivery-limit');
    if (delayMs > 0) {
      e.readyAt = now + delayMs;
      this.delayed.add(seq, e.readyAt);
    } else {
      this.ready.pushReturned(seq, e.priority);
    }
  }

  private advance(now: number): void {
    this.promoteDue(now);
    this.expireHeads(now);
  }

  private promoteDue(now: number): void {
    for (let seq = this.delayed.takeDue(now); seq !== undefined; seq = this.delayed.takeDue(now)) {
      this.ready.pushReturned(seq, this.entry(seq).priority);
    }
  }

  private expiryOf(now: number, ttlMs: number | undefined): number | undefined {
    const queueTtl = this.config.messageTtlMs;
    const ttl = queueTtl === undefined ? ttlMs : ttlMs === undefined ? queueTtl : Math.min(queueTtl, ttlMs);
    return ttl === undefined ? undefined : now + ttl;
  }

  /**
   * Only lane heads are looked at: under the queue's TTL alone expiry follows line order; a message
   * of its own shorter TTL behind the head waits for the head (as in RabbitMQ), though dispatch never
   * delivers it expired.
   */
  private expireHeads(now: number): void {
    if (!this.mayExpire) return;
    for (;;) {
      const expired = this.ready.heads().find((seq) => this.entry(seq).expiresAt! <= now);
      if (expired === undefined) return;
      this.ready.removeHead(expired);
      this.expire(expired);
    }
  }

  private expire(seq: Seq): void {
    this.counters.expired++;
    if (this.config.deadLetterQueue !== undefined) this.deadLetter(seq, 'expired');
    else this.remove(seq, 'expired');
  }

  private dispatch(now: number): void {
    if (this.consumers.size === 0) return;
    const batches = new Map<ConsumerTag, Delivered[]>();
    const delivered: Seq[] = [];
    while (this.ready.size > 0) {
      const consumer = this.nextWithCredit();
      if (consumer === undefined) break;
      const seq = this.ready.shift()!;
      const e = this.entries.get(seq) ?? this.track(seq, 0, undefined, undefined, 0, true);
      if (e.expiresAt !== undefined && e.expiresAt <= now) {
        // Expired, yet missed by expireHeads, which looks at lane heads only and only with a TTL
        // configured: a message recovered under another TTL config. Expire it rather than deliver it
        // late; putting it back for expireHeads (as before) looped forever when there is no TTL now.
        this.expire(seq);
        continue;
      }
      e.deliveries++;
      e.holder = consumer;
      this.consumers.get(consumer)!.held.add(seq);
      const deliveryCount = this.deliveriesOf(seq, e);
      this.counters.delivered++;
      if (deliveryCount > 1) this.counters.redelivered++;
      delivered.push(seq);
      let batch = batches.get(consumer);
      if (!batch) batches.set(consumer, (batch = []));
      batch.push({ seq, deliveryCount });
    }
    for (const seqs of seqRuns(delivered)) this.records.push({ type: 'delivered', seqs });
    for (const [consumer, messages] of batches) this.effects.push({ type: 'deliver', consumer, messages });
  }

  private nextWithCredit(): ConsumerTag | undefined {
    const hasCredit = (tag: ConsumerTag) => {
      const c = this.consumers.get(tag)!;
      return c.held.size < c.prefetch;
    };
    if (this.config.singleActiveConsumer) {
      const active = this.order[0];
      return active !== undefined && hasCredit(active) ? active : undefined;
    }
    for (let i = 0; i < this.order.length; i++) {
      const idx = (this.cursor + i) % this.order.length;
      const tag = this.order[idx]!;
      if (hasCredit(tag)) {
        this.cursor = (idx + 1) % this.order.length;
        return tag;
      }
    }
    return undefined;
  }

  private deadLetter(seq: Seq, reason: DeadLetterReason): void {
    const e = this.entry(seq);
    this.entries.delete(seq);
    this.counters.deadLettered++;
    this.deadLetters.push({ seq, reason, deliveryCount: this.deliveriesOf(seq, e) });
  }

  private remove(seq: Seq, reason: RemoveReason): void {
    this.entries.delete(seq);
    if (reason === 'dropped') this.counters.dropped++;
    const last = this.records[this.records.length - 1];
    if (last?.type === 'remove' && last.reason === reason && last.seqs.length < MAX_SEQS_PER_RECORD) (last.seqs as Seq[]).push(seq);
    else this.records.push({ type: 'remove', seqs: [seq], reason });
  }

  private waiting(): number {
    return this.ready.size + this.delayed.size;
  }

  /** The deliveries recorded, and one more for a message that may have been delivered unrecorded. */
  private deliveriesOf(seq: Seq, e: Readonly<Entry>): number {
    return seq < this.uncertainBelow ? e.deliveries + 1 : e.deliveries;
  }

  /** Keeps an entry for the message unless it is plain (or `always`, for one about to be delivered). */
  private track(seq: Seq, priority: number, expiresAt: number | undefined, readyAt: number | undefined, deliveries: number, always = false): Entry {
    if (expiresAt !== undefined) this.mayExpire = true;
    const e: Entry = { priority, expiresAt, readyAt, deliveries, holder: undefined };
    if (always || priority !== 0 || expiresAt !== undefined || readyAt !== undefined || deliveries !== 0) this.entries.set(seq, e);
    return e;
  }

  /** A live message's entry; a plain one reads as the shared plain entry, which is never written. */
  private entry(seq: Seq): Readonly<Entry> {
    return this.entries.get(seq) ?? QueueMachine.plain;
  }

  private flush(): QueueEffect[] {
    const out: QueueEffect[] = [];
    if (this.records.length) out.push({ type: 'append', records: this.records });
    out.push(...this.effects);
    if (this.deadLetters.length) out.push({ type: 'dead-letter', messages: this.deadLetters });
    this.records = [];
    this.effects = [];
    this.deadLetters = [];
    return out;
  }
}
