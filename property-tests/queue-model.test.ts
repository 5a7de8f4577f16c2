// Model-based test of the queue state machine: random command sequences run against QueueMachine and
// against a plain model of what a queue must do, compared after every command. The model keeps every
// message it ever confirmed with the one place it is in, so "no message lost" is a count on both sides
// plus the holder of every unacked message. The model does not say which consumer a message goes to
// (round-robin is the machine's business), only which messages must go, in which order, within credit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asConsumerTag, asMessageId, asQueue, asSeq, type ConsumerTag, type QueueName } from '../node/ids.ts';
import type { RemoveReason } from '../storage/storage.ts';
import {
  QueueMachine, type DeadLetterReason, type Outcome, type OverflowPolicy, type PublishItem, type QueueCommand,
  type QueueConfig, type QueueCounters, type QueueEffect, type Settlement,
} from '../queues/queue-machine.ts';
import { propertyParams } from './params.ts';

type Place = 'ready' | 'delayed' | 'unacked' | 'acked' | 'dead-lettered' | 'expired' | 'dropped' | 'purged';

interface ModelMessage {
  readonly seq: number;
  readonly id: string;
  readonly priority: number;
  readonly expiresAt: number | undefined;
  /** Published with a delay: it joins the line by seq when due, so it is not a FIFO newcomer. */
  readonly publishedDelayed: boolean;
  place: Place;
  holder: string | undefined;
  readyAt: number | undefined;
  deliveries: number;
  /** Delivered before (a delivery given back unseen no longer counts, but its message is no newcomer). */
  handedOut: boolean;
}

interface Model {
  readonly config: QueueConfig;
  now: number;
  nextSeq: number;
  nextId: number;
  nextTag: number;
  readonly messages: Map<number, ModelMessage>;
  /** Subscribed consumers, in subscription order (the single active consumer is the first). */
  readonly consumers: Map<string, { readonly prefetch: number }>;
  /** Every tag ever subscribed, cancelled ones too: they make stale settlements. */
  readonly tags: string[];
  /** Every id ever published: duplicates are drawn from here. */
  readonly ids: string[];
  /** The producer dedup window, oldest first. */
  dedup: { readonly id: string; readonly seq: number; readonly at: number }[];
  /** What the machine's counters must read. */
  readonly counts: QueueCounters;
  /** Messages counted in the machine's dead-letter effects so far. */
  deadLetterEffectMessages: number;
  /** Per priority, the seq of the last first delivery of a message published without delay. */
  readonly lastFresh: Map<number, number>;
}

interface Real {
  readonly machine: QueueMachine;
}

/** What one command must produce, besides deliveries (checked against the model's line afterwards). */
interface Expected {
  readonly answers: ({ ref: number; seq: number; duplicate: boolean } | { ref: number; refused: true })[];
  readonly enqueued: number[];
  readonly removed: Record<Exclude<RemoveReason, 'dead-letter'>, number[]>;
  readonly deadLettered: [seq: number, reason: DeadLetterReason, deliveryCount: number][];
  readonly stale: number[];
  /** Deliveries given back unseen, which do not count ('released' records). */
  readonly released: number[];
  /** The count a purge answers with. */
  purged?: number;
}

const EMPTY = new Uint8Array(0);
const expectNothing = (): Expected => ({ answers: [], enqueued: [], removed: { ack: [], expired: [], dropped: [], purged: [] }, deadLettered: [], stale: [], released: [] });

// --- the model's rules ----------------------------------------------------------------------------

const inPlace = (m: Model, place: Place) => [...m.messages.values()].filter((x) => x.place === place);
/** Delivery order: higher priority first, then lowest seq (a returned message takes back its place). */
const line = (m: Model) => inPlace(m, 'ready').sort((a, b) => b.priority - a.priority || a.seq - b.seq);
const delayedLine = (m: Model) => inPlace(m, 'delayed').sort((a, b) => a.readyAt! - b.readyAt! || a.seq - b.seq);
const heldBy = (m: Model, tag: string) => inPlace(m, 'unacked').filter((x) => x.holder === tag).map((x) => x.seq).sort((a, b) => a - b);

function deadLetter(m: Model, exp: Expected, msg: ModelMessage, reason: DeadLetterReason): void {
  msg.place = 'dead-lettered';
  msg.holder = undefined;
  m.counts.deadLettered++;
  exp.deadLettered.push([msg.seq, reason, msg.deliveries]);
}

/** The clock has reached m.now: delays that are over join the line, expired messages leave it. */
function advance(m: Model, exp: Expected): void {
  for (const msg of inPlace(m, 'delayed')) {
    if (msg.readyAt! <= m.now) msg.place = 'ready';
  }
  for (const msg of inPlace(m, 'ready')) {
    if (msg.expiresAt === undefined || msg.expiresAt > m.now) continue;
    m.counts.expired++;
    if (m.config.deadLetterQueue !== undefined) deadLetter(m, exp, msg, 'expired');
    else {
      msg.place = 'expired';
      exp.removed.expired.push(msg.seq);
    }
  }
}

function giveBack(m: Model, exp: Expected, msg: ModelMessage, delayMs: number): void {
  msg.holder = undefined;
  if (msg.deliveries >= m.config.maxDeliveries) return deadLetter(m, exp, msg, 'delivery-limit');
  if (delayMs > 0) {
    msg.place = 'delayed';
    msg.readyAt = m.now + delayMs;
  } else {
    msg.place = 'ready';
  }
}

function evictDedup(m: Model): void {
  const { count, ms } = m.config.dedupWindow;
  while (m.dedup.length > 0 && (m.dedup.length > count || m.now - m.dedup[0]!.at >= ms)) m.dedup.shift();
}

/** maxLength reached: frees one place by removing the next message in line, if there is one. */
function makeRoom(m: Model, exp: Expected): boolean {
  const head = line(m)[0] ?? delayedLine(m)[0];
  if (head === undefined) return false;
  if (m.config.overflow === 'dead-letter-head') {
    deadLetter(m, exp, head, 'maxlen');
  } else {
    head.place = 'dropped';
    m.counts.dropped++;
    exp.removed.dropped.push(head.seq);
  }
  return true;
}

// --- commands -------------------------------------------------------------------------------------

interface PublishSpec {
  /** Re-publish an id seen before (picked by index), else a new id. */
  readonly dup: number | null;
  readonly priority: number;
  readonly delayMs: number;
}

interface SettleSpec {
  readonly pick: number;
  readonly outcome: Outcome;
  readonly delayMs: number;
  /** Name any seq at all (or one that never existed) rather than one the consumer holds. */
  readonly stray: boolean;
}

abstract class Step implements fc.Command<Model, Real> {
  /** Every command moves the clock forward first (by 0 or more ms). */
  constructor(readonly dt: number) {}

  check(_m: Readonly<Model>): boolean {
    return true;
  }

  run(m: Model, r: Real): void {
    m.now += this.dt;
    const exp = expectNothing();
    advance(m, exp);
    const cmd = this.apply(m, exp);
    // Messages given back may already be past their TTL: they expire rather than go out late.
    advance(m, exp);
    const effects = r.machine.handle(cmd);
    verify(m, r.machine, exp, effects);
  }

  /** Updates the model as the command must change it; returns the command for the machine. */
  protected abstract apply(m: Model, exp: Expected): QueueCommand;
  abstract toString(): string;
}

class Publish extends Step {
  constructor(dt: number, readonly items: readonly PublishSpec[]) {
    super(dt);
  }

  protected apply(m: Model, exp: Expected): QueueCommand {
    const items: PublishItem[] = [];
    evictDedup(m);
    for (const spec of this.items) {
      const id = spec.dup !== null && m.ids.length > 0 ? m.ids[spec.dup % m.ids.length]! : `m${m.nextId++}`;
      if (!m.ids.includes(id)) m.ids.push(id);
      // Effects name an item by its index in the command.
      const ref = items.length;
      items.push({ id: asMessageId(id), headers: {}, body: EMPTY, priority: spec.priority, size: 1, ...(spec.delayMs ? { delayMs: spec.delayMs } : {}) });
      const seen = m.dedup.find((d) => d.id === id);
      if (seen) {
        m.counts.duplicates++;
        exp.answers.push({ ref, seq: seen.seq, duplicate: true });
        continue;
      }
      const waiting = inPlace(m, 'ready').length + inPlace(m, 'delayed').length;
      const full = m.config.maxLength !== undefined && waiting >= m.config.maxLength;
      if (full && m.config.overflow === 'reject-publish') {
        m.counts.refused++;
        exp.answers.push({ ref, refused: true });
        continue;
      }
      const roomMade = full && makeRoom(m, exp);
      const seq = m.nextSeq++;
      const ttl = m.config.messageTtlMs;
      m.messages.set(seq, {
        seq, id, priority: spec.priority, expiresAt: ttl === undefined ? undefined : m.now + ttl, publishedDelayed: spec.delayMs > 0,
        place: spec.delayMs > 0 ? 'delayed' : 'ready', holder: undefined, readyAt: spec.delayMs > 0 ? m.now + spec.delayMs : undefined, deliveries: 0, handedOut: false,
      });
      m.dedup.push({ id, seq, at: m.now });
      m.counts.published++;
      exp.enqueued.push(seq);
      // Nothing waiting to make room for it (maxLength 0): it goes itself.
      if (full && !roomMade) makeRoom(m, exp);
      exp.answers.push({ ref, seq, duplicate: false });
    }
    evictDedup(m);
    return { type: 'publish', now: m.now, items };
  }

  toString(): string {
    const items = this.items.map((i) => `${i.dup === null ? 'new' : `dup#${i.dup}`} p${i.priority}${i.delayMs ? ` +${i.delayMs}ms` : ''}`);
    return `publish(+${this.dt}ms: ${items.join(', ')})`;
  }
}

class Subscribe extends Step {
  constructor(dt: number, readonly prefetch: number, readonly again: number | null) {
    super(dt);
  }

  protected apply(m: Model): QueueCommand {
    const current = [...m.consumers.keys()];
    // Subscribing a tag that is already subscribed changes nothing.
    const tag = this.again !== null && current.length > 0 ? current[this.again % current.length]! : `c${m.nextTag++}`;
    if (!m.consumers.has(tag)) {
      m.consumers.set(tag, { prefetch: this.prefetch });
      m.tags.push(tag);
    }
    return { type: 'subscribe', now: m.now, consumer: asConsumerTag(tag), prefetch: this.prefetch };
  }

  toString(): string {
    return `subscribe(+${this.dt}ms, prefetch ${this.prefetch}${this.again === null ? '' : `, again #${this.again}`})`;
  }
}

class Settle extends Step {
  constructor(dt: number, readonly consumer: number, readonly cancelled: boolean, readonly items: readonly SettleSpec[]) {
    super(dt);
  }

  override check(m: Readonly<Model>): boolean {
    return m.tags.length > 0;
  }

  protected apply(m: Model, exp: Expected): QueueCommand {
    // Mostly a subscribed consumer; now and then any tag ever seen, a cancelled one's settlements being stale.
    const tags = this.cancelled || m.consumers.size === 0 ? m.tags : [...m.consumers.keys()];
    const tag = tags[this.consumer % tags.length]!;
    const held = heldBy(m, tag);
    const all = [...m.messages.keys()];
    const settlements: Settlement[] = [];
    for (const spec of this.items) {
      const seq = spec.stray || held.length === 0
        ? (all[spec.pick % (all.length + 1)] ?? 10_000)
        : held[spec.pick % held.length]!;
      settlements.push({ seq: asSeq(seq), outcome: spec.outcome, ...(spec.delayMs ? { delayMs: spec.delayMs } : {}) });
      // In order: the second settlement of the same message in one batch is already stale.
      const msg = m.messages.get(seq);
      if (!m.consumers.has(tag) || msg?.place !== 'unacked' || msg.holder !== tag) {
        m.counts.staleSettlements++;
        exp.stale.push(seq);
      } else if (spec.outcome === 'ack') {
        msg.place = 'acked';
        msg.holder = undefined;
        m.counts.acked++;
        exp.removed.ack.push(seq);
      } else if (spec.outcome === 'dead-letter') {
        deadLetter(m, exp, msg, 'rejected');
      } else {
        giveBack(m, exp, msg, spec.delayMs);
      }
    }
    return { type: 'settle', now: m.now, consumer: asConsumerTag(tag), items: settlements };
  }

  toString(): string {
    const items = this.items.map((i) => `${i.stray ? 'stray' : 'held'}#${i.pick} ${i.outcome}${i.delayMs ? ` +${i.delayMs}ms` : ''}`);
    return `settle(+${this.dt}ms, ${this.cancelled ? 'any ' : ''}consumer #${this.consumer}: ${items.join(', ')})`;
  }
}

/**
 * A consumer cancels, or crashes: for the queue both are a cancel, and its messages come back; those
 * it held from the `seen`-th on no handler had (a prefetch left behind): their deliveries do not count.
 */
class Cancel extends Step {
  constructor(dt: number, readonly consumer: number, readonly why: 'cancel' | 'crash', readonly seen: number) {
    super(dt);
  }

  override check(m: Readonly<Model>): boolean {
    return m.consumers.size > 0;
  }

  protected apply(m: Model, exp: Expected): QueueCommand {
    const tag = [...m.consumers.keys()][this.consumer % m.consumers.size]!;
    const held = heldBy(m, tag);
    const unseen = held.slice(this.seen);
    for (const seq of held) {
      const msg = m.messages.get(seq)!;
      if (!unseen.includes(seq)) giveBack(m, exp, msg, 0);
      else {
        msg.deliveries--;
        msg.place = 'ready';
        msg.holder = undefined;
        exp.released.push(seq);
      }
    }
    m.consumers.delete(tag);
    return { type: 'cancel', now: m.now, consumer: asConsumerTag(tag), unseen: unseen.map(asSeq) };
  }

  toString(): string {
    return `${this.why}(+${this.dt}ms, consumer #${this.consumer}, seen ${this.seen})`;
  }
}

/** Every waiting message (ready or delayed) goes; unacked ones stay with their consumers. */
class Purge extends Step {
  protected apply(m: Model, exp: Expected): QueueCommand {
    const waiting = [...inPlace(m, 'ready'), ...inPlace(m, 'delayed')];
    for (const msg of waiting) msg.place = 'purged';
    exp.removed.purged.push(...waiting.map((x) => x.seq));
    exp.purged = waiting.length;
    return { type: 'purge', now: m.now };
  }

  toString(): string {
    return `purge(+${this.dt}ms)`;
  }
}

class Tick extends Step {
  protected apply(m: Model): QueueCommand {
    return { type: 'tick', now: m.now };
  }

  toString(): string {
    return `tick(+${this.dt}ms)`;
  }
}

// --- comparing the machine with the model ----------------------------------------------------------

function verify(m: Model, machine: QueueMachine, exp: Expected, effects: QueueEffect[]): void {
  const answers: Expected['answers'] = [];
  const enqueued: number[] = [];
  const removed: Expected['removed'] = { ack: [], expired: [], dropped: [], purged: [] };
  let purged: number | undefined;
  const deadLettered: Expected['deadLettered'] = [];
  const stale: number[] = [];
  const deliveredRecord: number[] = [];
  const released: number[] = [];
  const deliveries: { consumer: ConsumerTag; seqs: number[]; counts: number[] }[] = [];
  for (const e of effects) {
    switch (e.type) {
      case 'append':
        for (const rec of e.records) {
          if (rec.type === 'enqueue') enqueued.push(rec.meta.seq);
          else if (rec.type === 'delivered') deliveredRecord.push(...rec.seqs);
          else if (rec.type === 'released') released.push(...rec.seqs);
          else if (rec.type === 'remove') {
            assert.notEqual(rec.reason, 'dead-letter', "the machine leaves the 'dead-letter' removal to the actor");
            if (rec.reason !== 'dead-letter') removed[rec.reason].push(...rec.seqs);
          } else assert.fail('a queue writes no marks: only mirrors do');
        }
        break;
      case 'confirm': answers.push({ ref: e.ref, seq: e.seq, duplicate: e.duplicate }); break;
      case 'refuse': answers.push({ ref: e.ref, refused: true }); break;
      case 'stale': stale.push(...e.seqs); break;
      case 'purged': purged = e.count; break;
      case 'deliver':
        deliveries.push({ consumer: e.consumer, seqs: e.messages.map((d) => d.seq), counts: e.messages.map((d) => d.deliveryCount) });
        break;
      case 'dead-letter':
        m.deadLetterEffectMessages += e.messages.length;
        for (const d of e.messages) {
          if (d.reason === 'delivery-limit') assert.ok(d.deliveryCount >= m.config.maxDeliveries, `seq ${d.seq} hit the delivery limit after ${d.deliveryCount} deliveries`);
          deadLettered.push([d.seq, d.reason, d.deliveryCount]);
        }
        break;
    }
  }
  const bySeq = (a: number, b: number) => a - b;
  assert.deepEqual(answers, exp.answers, 'confirms and refusals, item by item');
  assert.deepEqual(enqueued, exp.enqueued, 'enqueue records: one per stored message, duplicates not stored twice');
  for (const reason of ['ack', 'expired', 'dropped', 'purged'] as const) assert.deepEqual(removed[reason].sort(bySeq), exp.removed[reason].sort(bySeq), `'${reason}' removals`);
  const sortDl = (xs: Expected['deadLettered']) => xs.sort((a, b) => a[0] - b[0]);
  assert.deepEqual(sortDl(deadLettered), sortDl(exp.deadLettered), 'dead letters (seq, reason, deliveryCount)');
  assert.deepEqual(stale, exp.stale, 'stale settlements');
  assert.deepEqual(released, exp.released, "'released' records: the deliveries given back unseen");
  assert.equal(purged, exp.purged, 'the count a purge answers with');

  verifyDispatch(m, deliveredRecord, deliveries);
  verifyState(m, machine);
}

/** Whatever can go out within credit goes out, in line order, to consumers that have the credit. */
function verifyDispatch(m: Model, deliveredRecord: number[], deliveries: { consumer: ConsumerTag; seqs: number[]; counts: number[] }[]): void {
  const eligible = m.config.singleActiveConsumer ? [...m.consumers.keys()].slice(0, 1) : [...m.consumers.keys()];
  const credit = eligible.reduce((n, tag) => n + m.consumers.get(tag)!.prefetch - heldBy(m, tag).length, 0);
  const ready = line(m);
  const mustGo = ready.slice(0, Math.min(ready.length, credit)).map((x) => x.seq);
  assert.deepEqual(deliveredRecord, mustGo, 'delivered: the head of the line, as far as credit reaches');
  assert.deepEqual(deliveries.flatMap((d) => d.seqs).sort((a, b) => a - b), [...mustGo].sort((a, b) => a - b), 'deliver effects match the delivered record');

  const newcomers = new Set(deliveredRecord.filter((seq) => !m.messages.get(seq)!.handedOut));
  for (const { consumer, seqs, counts } of deliveries) {
    assert.ok(eligible.includes(consumer), `delivered to ${consumer}, which may not receive (single active consumer: ${eligible[0]})`);
    assert.deepEqual(seqs, deliveredRecord.filter((s) => seqs.includes(s)), `${consumer} gets its messages in line order`);
    seqs.forEach((seq, i) => {
      const msg = m.messages.get(seq)!;
      msg.deliveries++;
      msg.handedOut = true;
      assert.equal(counts[i], msg.deliveries, `deliveryCount of seq ${seq}`);
      msg.place = 'unacked';
      msg.holder = consumer;
      m.counts.delivered++;
      if (msg.deliveries > 1) m.counts.redelivered++;
    });
  }
  for (const seq of deliveredRecord) {
    const msg = m.messages.get(seq)!;
    if (!newcomers.has(seq) || msg.publishedDelayed) continue;
    const last = m.lastFresh.get(msg.priority) ?? 0;
    assert.ok(seq > last, `FIFO: seq ${seq} delivered for the first time after seq ${last} (priority ${msg.priority})`);
    m.lastFresh.set(msg.priority, seq);
  }
}

function verifyState(m: Model, machine: QueueMachine): void {
  const snap = machine.snapshot();
  assert.deepEqual(
    { ready: snap.ready, delayed: snap.delayed, unacked: snap.unacked, consumers: snap.consumers },
    { ready: inPlace(m, 'ready').length, delayed: inPlace(m, 'delayed').length, unacked: inPlace(m, 'unacked').length, consumers: m.consumers.size },
    'where the messages are',
  );
  assert.deepEqual(snap.counters, m.counts, 'counters');
  assert.equal(snap.counters.deadLettered, m.deadLetterEffectMessages, 'every dead letter counted is in a dead-letter effect');

  // No message lost: each one the model confirmed is in exactly one place, and an unacked one is held
  // by exactly one consumer, the one the model says.
  assert.equal(m.messages.size, m.counts.published);
  const holders = new Map<number, string[]>();
  for (const tag of m.tags) {
    const held = machine.heldBy(asConsumerTag(tag));
    if (!m.consumers.has(tag)) assert.deepEqual(held, [], `cancelled ${tag} holds nothing`);
    assert.deepEqual(held, heldBy(m, tag), `messages held by ${tag}`);
    const c = m.consumers.get(tag);
    if (c) assert.ok(held.length <= c.prefetch, `${tag} holds ${held.length} > prefetch ${c.prefetch}`);
    if (m.config.singleActiveConsumer && tag !== [...m.consumers.keys()][0]) assert.deepEqual(held, [], `${tag} is not the active consumer`);
    for (const seq of held) holders.set(seq, [...(holders.get(seq) ?? []), tag]);
  }
  for (const msg of m.messages.values()) {
    assert.equal(holders.get(msg.seq)?.length ?? 0, msg.place === 'unacked' ? 1 : 0, `holders of seq ${msg.seq} (${msg.place})`);
  }

  // The actor sleeps until nextWakeup: it must name the earliest delay end or expiry, and lie ahead.
  const times = [...delayedLine(m).map((x) => x.readyAt!), ...line(m).flatMap((x) => (x.expiresAt === undefined ? [] : [x.expiresAt]))];
  const wake = machine.nextWakeup();
  assert.equal(wake, times.length ? Math.min(...times) : undefined, 'nextWakeup');
  if (wake !== undefined) assert.ok(wake > m.now, 'nothing is overdue after a command');
}

// --- generators -----------------------------------------------------------------------------------

const dt = fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 15 }), weight: 2 });
const pick = fc.nat({ max: 50 });
const rarely = fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 });

const publishSpec: fc.Arbitrary<PublishSpec> = fc.record({
  dup: fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: pick, weight: 1 }),
  priority: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 2 }), weight: 1 }),
  delayMs: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 1, max: 30 }), weight: 1 }),
});

const settleSpec: fc.Arbitrary<SettleSpec> = fc.record({
  pick,
  outcome: fc.constantFrom<Outcome>('ack', 'ack', 'requeue', 'requeue', 'dead-letter'),
  delayMs: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 30 }), weight: 1 }),
  stray: rarely,
});

const commands = fc.commands<Model, Real>([
  fc.tuple(dt, fc.array(publishSpec, { minLength: 1, maxLength: 3 })).map(([t, items]) => new Publish(t, items)),
  fc.tuple(dt, fc.integer({ min: 1, max: 3 }), fc.option(pick, { nil: null, freq: 6 })).map(([t, prefetch, again]) => new Subscribe(t, prefetch, again)),
  fc.tuple(dt, pick, rarely, fc.array(settleSpec, { minLength: 1, maxLength: 3 })).map(([t, c, any, items]) => new Settle(t, c, any, items)),
  fc.tuple(dt, pick, fc.constantFrom<'cancel' | 'crash'>('cancel', 'crash'), fc.nat({ max: 3 })).map(([t, c, why, seen]) => new Cancel(t, c, why, seen)),
  fc.integer({ min: 0, max: 40 }).map((t) => new Tick(t)),
  dt.map((t) => new Purge(t)),
], { maxCommands: 80, size: 'medium' });

const configs: fc.Arbitrary<QueueConfig> = fc.record({
  maxDeliveries: fc.integer({ min: 1, max: 3 }),
  singleActiveConsumer: fc.boolean(),
  maxLength: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
  overflow: fc.constantFrom<OverflowPolicy>('reject-publish', 'drop-head', 'dead-letter-head'),
  messageTtlMs: fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }),
  deadLetterQueue: fc.option(fc.constant(asQueue('dlq')), { nil: undefined }),
  dedupWindow: fc.record({ count: fc.integer({ min: 1, max: 8 }), ms: fc.integer({ min: 5, max: 100 }) }),
}).map(({ maxLength, messageTtlMs, deadLetterQueue, ...rest }) => ({
  name: asQueue('q') as QueueName,
  ...rest,
  ...(maxLength !== undefined ? { maxLength } : {}),
  ...(messageTtlMs !== undefined ? { messageTtlMs } : {}),
  ...(deadLetterQueue !== undefined ? { deadLetterQueue } : {}),
}));

function setup(config: QueueConfig): { model: Model; real: Real } {
  const counts: QueueCounters = { published: 0, duplicates: 0, refused: 0, delivered: 0, redelivered: 0, acked: 0, deadLettered: 0, expired: 0, dropped: 0, staleSettlements: 0 };
  const model: Model = {
    config, now: 0, nextSeq: 1, nextId: 0, nextTag: 0, messages: new Map(), consumers: new Map(), tags: [], ids: [],
    dedup: [], counts, deadLetterEffectMessages: 0, lastFresh: new Map(),
  };
  return { model, real: { machine: new QueueMachine(config) } };
}

describe('queue machine against a model', () => {
  it('loses no message, keeps FIFO, prefetch, delivery limits, dedup, purges and counters under random commands', () => {
    fc.assert(
      fc.property(configs, commands, (config, cmds) => fc.modelRun(() => setup(config), cmds)),
      { ...propertyParams('queue machine model', 200), includeErrorInReport: true },
    );
  });
});
