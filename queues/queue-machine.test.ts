// Readable examples of the queue state machine; property-tests/queue-model.test.ts covers the same rules
// under random command sequences.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { asConsumerTag, asMessageId, asQueue, asSeq, type Seq } from '../node/ids.ts';
import { MAX_SEQS_PER_RECORD, type RecoveredQueue } from '../storage/storage.ts';
import { QueueMachine, type Outcome, type QueueConfig, type QueueEffect } from './queue-machine.ts';

/** A machine with a clock and terse commands; every command returns what the queue did. */
const EMPTY = new Uint8Array(0);

class Queue {
  readonly machine: QueueMachine;
  now = 0;

  constructor(config: Partial<QueueConfig> = {}, recovered?: RecoveredQueue) {
    this.machine = new QueueMachine({
      name: asQueue('q'), maxDeliveries: 10, overflow: 'reject-publish', singleActiveConsumer: false,
      dedupWindow: { count: 1_000, ms: 60_000 }, ...config,
    }, recovered);
  }

  publish(ids: string[], opts: { priority?: number; delayMs?: number; fresh?: boolean } = {}): Outcomes {
    const items = ids.map((id) => ({ id: asMessageId(id), headers: {}, body: EMPTY, priority: opts.priority ?? 0, size: 1, ...(opts.delayMs ? { delayMs: opts.delayMs } : {}), ...(opts.fresh ? { fresh: true } : {}) }));
    return outcomes(this.machine.handle({ type: 'publish', now: this.now, items }));
  }

  subscribe(consumer: string, prefetch: number): Outcomes {
    return outcomes(this.machine.handle({ type: 'subscribe', now: this.now, consumer: asConsumerTag(consumer), prefetch }));
  }

  settle(consumer: string, seqs: number[], outcome: Outcome, delayMs?: number): Outcomes {
    const items = seqs.map((seq) => ({ seq: asSeq(seq), outcome, ...(delayMs ? { delayMs } : {}) }));
    return outcomes(this.machine.handle({ type: 'settle', now: this.now, consumer: asConsumerTag(consumer), items }));
  }

  cancel(consumer: string, unseen: number[] = []): Outcomes {
    return outcomes(this.machine.handle({ type: 'cancel', now: this.now, consumer: asConsumerTag(consumer), unseen: unseen.map(asSeq) }));
  }

  reconcile(consumer: string, holds: number[]): Outcomes {
    return outcomes(this.machine.handle({ type: 'reconcile', now: this.now, consumer: asConsumerTag(consumer), holds: holds.map(asSeq) }));
  }

  tick(now: number): Outcomes {
    this.now = now;
    return outcomes(this.machine.handle({ type: 'tick', now }));
  }

  held(consumer: string): Seq[] {
    return this.machine.heldBy(asConsumerTag(consumer));
  }
}

/** Effects, flattened into what a test asks about. */
interface Outcomes {
  readonly confirmed: { seq: number; duplicate: boolean }[];
  readonly refused: number;
  /** consumer → [seq, deliveryCount] in delivery order */
  readonly delivered: Record<string, [number, number][]>;
  readonly deadLettered: [seq: number, reason: string, deliveryCount: number][];
  readonly removed: Record<string, number[]>;
  readonly stale: number[];
}

function outcomes(effects: QueueEffect[]): Outcomes {
  const o: Outcomes = { confirmed: [], refused: 0, delivered: {}, deadLettered: [], removed: {}, stale: [] };
  for (const e of effects) {
    if (e.type === 'confirm') o.confirmed.push({ seq: e.seq, duplicate: e.duplicate });
    else if (e.type === 'refuse') (o as { refused: number }).refused++;
    else if (e.type === 'deliver') (o.delivered[e.consumer] ??= []).push(...e.messages.map((d): [number, number] => [d.seq, d.deliveryCount]));
    else if (e.type === 'dead-letter') o.deadLettered.push(...e.messages.map((d): [number, string, number] => [d.seq, d.reason, d.deliveryCount]));
    else if (e.type === 'stale') o.stale.push(...e.seqs);
    else if (e.type === 'append') {
      for (const r of e.records) if (r.type === 'remove') (o.removed[r.reason] ??= []).push(...r.seqs);
    }
  }
  return o;
}

const seqs = (o: Outcomes, consumer: string) => (o.delivered[consumer] ?? []).map(([seq]) => seq);

describe('QueueMachine', () => {
  describe('order', () => {
    it('delivers in publish order (FIFO)', () => {
      const q = new Queue();
      assert.deepEqual(q.publish(['a', 'b', 'c']).confirmed.map((c) => c.seq), [1, 2, 3]);
      assert.deepEqual(seqs(q.subscribe('c1', 10), 'c1'), [1, 2, 3]);
    });

    it('delivers higher priority first, FIFO within a priority', () => {
      const q = new Queue();
      q.publish(['low1']);
      q.publish(['high1'], { priority: 5 });
      q.publish(['low2']);
      q.publish(['high2'], { priority: 5 });
      assert.deepEqual(seqs(q.subscribe('c1', 10), 'c1'), [2, 4, 1, 3]);
    });

    it('a requeued message goes back to its original place in line, ahead of later ones', () => {
      const q = new Queue();
      q.subscribe('c1', 2);
      q.publish(['a', 'b', 'c', 'd']);
      assert.deepEqual(q.held('c1'), [1, 2]);
      // Requeue 2 then 1: they come back in seq order, before 3 and 4, as redeliveries.
      const o = q.settle('c1', [2, 1], 'requeue');
      assert.deepEqual(o.delivered, { c1: [[1, 2], [2, 2]] });
      q.settle('c1', [1, 2], 'ack');
      assert.deepEqual(q.held('c1'), [3, 4]);
    });

    it('reconcile returns the deliveries a consumer says it never got, and keeps the ones it holds', () => {
      const q = new Queue();
      q.subscribe('c1', 3);
      q.subscribe('c2', 3);
      q.publish(['a', 'b', 'c', 'd']);
      assert.deepEqual([q.held('c1'), q.held('c2')], [[1, 3], [2, 4]]);
      // c1's delivery of 3 was lost in transit: it goes back in line and out again, as a redelivery
      // (round-robin's turn is c1's, which has credit).
      const o = q.reconcile('c1', [1]);
      assert.deepEqual(o.delivered, { c1: [[3, 2]] });
      assert.deepEqual([q.held('c1'), q.held('c2')], [[1, 3], [2, 4]]);
    });

    it('a message a cancelled consumer held goes back to its place for the next consumer', () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.publish(['a', 'b', 'c']);
      q.cancel('c1');
      assert.deepEqual(q.subscribe('c2', 3).delivered, { c2: [[1, 2], [2, 1], [3, 1]] });
    });

    it('a cancel gives back what no handler had uncounted, in a released record, and writes nothing when there is none', () => {
      const q = new Queue();
      q.subscribe('c1', 3);
      q.publish(['a', 'b', 'c']);
      const records = (effects: QueueEffect[]) => effects.flatMap((e) => (e.type === 'append' ? e.records : []));
      assert.deepEqual(records(q.machine.handle({ type: 'cancel', now: q.now, consumer: asConsumerTag('c1'), unseen: [asSeq(2), asSeq(3)] })), [{ type: 'released', seqs: [2, 3] }]);
      assert.deepEqual(q.subscribe('c2', 3).delivered, { c2: [[1, 2], [2, 1], [3, 1]] });
      q.subscribe('c3', 1);
      assert.deepEqual(records(q.machine.handle({ type: 'cancel', now: q.now, consumer: asConsumerTag('c3'), unseen: [] })), []);
    });
  });

  describe('prefetch', () => {
    it('a consumer never holds more than its prefetch; an ack makes room for the next', () => {
      const q = new Queue();
      q.subscribe('c1', 2);
      assert.deepEqual(seqs(q.publish(['a', 'b', 'c', 'd', 'e']), 'c1'), [1, 2]);
      assert.equal(q.machine.snapshot().ready, 3);
      assert.deepEqual(seqs(q.settle('c1', [1], 'ack'), 'c1'), [3]);
      assert.deepEqual(q.held('c1'), [2, 3]);
    });

    it('spreads messages round-robin across consumers with credit', () => {
      const q = new Queue();
      q.subscribe('c1', 5);
      q.subscribe('c2', 5);
      const o = q.publish(['a', 'b', 'c', 'd']);
      assert.deepEqual([seqs(o, 'c1'), seqs(o, 'c2')], [[1, 3], [2, 4]]);
    });
  });

  describe('redelivery', () => {
    it('a nack with a delay redelivers once the delay is over, not before', () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.publish(['a']);
      assert.deepEqual(q.settle('c1', [1], 'requeue', 100).delivered, {});
      const { ready, delayed, unacked } = q.machine.snapshot();
      assert.deepEqual({ ready, delayed, unacked }, { ready: 0, delayed: 1, unacked: 0 });
      assert.equal(q.machine.nextWakeup(), 100);
      assert.deepEqual(q.tick(99).delivered, {});
      assert.deepEqual(q.tick(100).delivered, { c1: [[1, 2]] });
      assert.equal(q.machine.counters.redelivered, 1);
    });

    it('a delayed publish is held back until due', () => {
      const q = new Queue();
      q.subscribe('c1', 10);
      q.publish(['later'], { delayMs: 50 });
      assert.deepEqual(seqs(q.publish(['now']), 'c1'), [2]);
      assert.deepEqual(q.tick(50).delivered, { c1: [[1, 1]] });
    });

    it('past maxDeliveries a returned message is dead-lettered instead', () => {
      const q = new Queue({ maxDeliveries: 2 });
      q.subscribe('c1', 1);
      q.publish(['poison']);
      assert.deepEqual(q.settle('c1', [1], 'requeue').delivered, { c1: [[1, 2]] });
      const o = q.settle('c1', [1], 'requeue');
      assert.deepEqual(o.deadLettered, [[1, 'delivery-limit', 2]]);
      assert.deepEqual(o.delivered, {});
      assert.equal(q.machine.counters.deadLettered, 1);
    });

    it('a rejected message is dead-lettered at once', () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.publish(['bad']);
      assert.deepEqual(q.settle('c1', [1], 'dead-letter').deadLettered, [[1, 'rejected', 1]]);
    });

    it('what a new leader takes over counts as possibly delivered: flagged redelivered, and toward maxDeliveries', () => {
      const report = { droppedRecords: 0, droppedBytes: 0, problems: [] };
      const messages = [1, 2].map((seq) => ({ seq: asSeq(seq), priority: 0, deliveryCount: 0 }));
      const q = new Queue({ maxDeliveries: 2 }, { messages, recentIds: [], nextSeq: asSeq(3), report, uncertainBelow: asSeq(3) });
      assert.deepEqual(q.subscribe('c1', 1).delivered, { c1: [[1, 2]] });
      assert.deepEqual(q.settle('c1', [1], 'requeue').deadLettered, [[1, 'delivery-limit', 2]]);
      q.settle('c1', [2], 'ack');
      assert.deepEqual(q.publish(['new']).delivered, { c1: [[3, 1]] });
      assert.equal(q.machine.counters.redelivered, 2);
    });
  });

  describe('message TTL', () => {
    it('without a deadLetterQueue, expired messages are removed', () => {
      const q = new Queue({ messageTtlMs: 100 });
      q.publish(['a', 'b']);
      assert.equal(q.machine.nextWakeup(), 100);
      assert.deepEqual(q.tick(99).removed, {});
      const o = q.tick(100);
      assert.deepEqual(o.removed, { expired: [1, 2] });
      assert.deepEqual(o.deadLettered, []);
      assert.equal(q.machine.counters.expired, 2);
      assert.equal(q.machine.snapshot().ready, 0);
    });

    it('a mass expiry is logged in records of at most MAX_SEQS_PER_RECORD seqs each (each fits in a replicate frame)', () => {
      const q = new Queue({ messageTtlMs: 100 });
      const n = 2 * MAX_SEQS_PER_RECORD + 5;
      q.publish(Array.from({ length: n }, (_, i) => `m${i}`), { fresh: true });
      const effects = q.machine.handle({ type: 'tick', now: 100 });
      const removes = effects.flatMap((e) => (e.type === 'append' ? e.records : [])).flatMap((r) => (r.type === 'remove' ? [r.seqs] : []));
      assert.deepEqual(removes.map((seqs) => seqs.length), [MAX_SEQS_PER_RECORD, MAX_SEQS_PER_RECORD, 5]);
      assert.deepEqual(removes.flat(), Array.from({ length: n }, (_, i) => i + 1));
    });

    it('with a deadLetterQueue, expired messages are dead-lettered', () => {
      const q = new Queue({ messageTtlMs: 100, deadLetterQueue: asQueue('dlq') });
      q.publish(['a']);
      const o = q.tick(150);
      assert.deepEqual(o.deadLettered, [[1, 'expired', 0]]);
      assert.deepEqual(o.removed, {}, "the actor appends the 'dead-letter' removal once the DLQ has it");
    });

    it('a held message does not expire while held, but does when it comes back late', () => {
      const q = new Queue({ messageTtlMs: 100 });
      q.subscribe('c1', 1);
      q.publish(['a']);
      assert.deepEqual(q.tick(500).removed, {});
      q.now = 500;
      const o = q.settle('c1', [1], 'requeue');
      assert.deepEqual(o.removed, { expired: [1] });
      assert.deepEqual(o.delivered, {}, 'not delivered late');
    });

    it('a publish to a full queue finds the room its expired messages leave', () => {
      const q = new Queue({ messageTtlMs: 10, maxLength: 1 });
      q.publish(['old']);
      q.now = 10;
      const o = q.publish(['new']);
      assert.equal(o.refused, 0);
      assert.deepEqual(o.removed, { expired: [1] });
      assert.equal(q.machine.counters.dropped, 0);
    });

    it('a recovered message with an expiry expires at dispatch even if the queue has no TTL now', () => {
      const q = new Queue({}, { messages: [{ seq: asSeq(1), priority: 0, expiresAt: 10, deliveryCount: 0 }], recentIds: [], nextSeq: asSeq(2), report: { droppedRecords: 0, droppedBytes: 0, problems: [] } });
      q.now = 100;
      const o = q.subscribe('c1', 1);
      assert.deepEqual(o.removed, { expired: [1] });
      assert.deepEqual(o.delivered, {});
    });
  });

  describe('maxLength', () => {
    const full = (overflow: QueueConfig['overflow']) => {
      const q = new Queue({ maxLength: 2, overflow });
      q.publish(['a', 'b']);
      return { q, o: q.publish(['c']) };
    };

    it("'reject-publish' refuses the new message", () => {
      const { q, o } = full('reject-publish');
      assert.deepEqual([o.refused, o.confirmed], [1, []]);
      assert.deepEqual(seqs(q.subscribe('c1', 10), 'c1'), [1, 2]);
    });

    it("'drop-head' drops the oldest waiting message", () => {
      const { q, o } = full('drop-head');
      assert.deepEqual(o.removed, { dropped: [1] });
      assert.deepEqual(o.confirmed, [{ seq: 3, duplicate: false }]);
      assert.deepEqual(seqs(q.subscribe('c1', 10), 'c1'), [2, 3]);
    });

    it("'dead-letter-head' dead-letters the oldest waiting message", () => {
      const { q, o } = full('dead-letter-head');
      assert.deepEqual(o.deadLettered, [[1, 'maxlen', 0]]);
      assert.deepEqual(seqs(q.subscribe('c1', 10), 'c1'), [2, 3]);
    });

    it('counts waiting messages only, not unacked ones', () => {
      const q = new Queue({ maxLength: 1 });
      q.subscribe('c1', 5);
      // One at a time: a batch is stored whole before any of it is delivered.
      for (const id of ['a', 'b', 'c']) assert.equal(q.publish([id]).refused, 0);
      assert.deepEqual(q.held('c1'), [1, 2, 3]);
      assert.equal(q.publish(['d', 'e']).refused, 1, 'd waits, e finds the queue full');
    });
  });

  describe('single active consumer', () => {
    it('only the first consumer receives; when it goes, the next takes over in order', () => {
      const q = new Queue({ singleActiveConsumer: true });
      q.subscribe('c1', 1);
      q.subscribe('c2', 10);
      assert.deepEqual(q.publish(['a', 'b', 'c']).delivered, { c1: [[1, 1]] });
      assert.deepEqual(q.held('c2'), []);
      assert.deepEqual(q.cancel('c1').delivered, { c2: [[1, 2], [2, 1], [3, 1]] });
    });
  });

  describe('settlements', () => {
    it("a settlement naming a message the consumer does not hold is stale and changes nothing", () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.subscribe('c2', 1);
      q.publish(['a', 'b']);
      assert.deepEqual(q.settle('c2', [1], 'ack').stale, [1], "c1's message");
      assert.deepEqual(q.settle('c1', [99], 'ack').stale, [99], 'no such message');
      assert.deepEqual(q.settle('c1', [1, 1], 'ack').stale, [1], 'the second ack of the same message');
      assert.equal(q.machine.counters.staleSettlements, 3);
      assert.equal(q.machine.counters.acked, 1);
    });

    it("a cancelled consumer's late ack is stale: the message stays with its new holder", () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.publish(['a']);
      q.cancel('c1');
      q.subscribe('c2', 1);
      assert.deepEqual(q.settle('c1', [1], 'ack').stale, [1]);
      assert.deepEqual(q.held('c2'), [1]);
    });
  });

  describe('producer dedup', () => {
    it('a duplicate id within the window is confirmed as a duplicate and not stored twice', () => {
      const q = new Queue({ dedupWindow: { count: 10, ms: 1_000 } });
      q.publish(['a']);
      q.now = 999;
      assert.deepEqual(q.publish(['a']).confirmed, [{ seq: 1, duplicate: true }]);
      assert.equal(q.machine.snapshot().ready, 1);
      q.now = 1_000;
      assert.deepEqual(q.publish(['a']).confirmed, [{ seq: 2, duplicate: false }], 'out of the window: a new message');
    });

    it('the window holds at most `count` ids', () => {
      const q = new Queue({ dedupWindow: { count: 2, ms: 1_000 } });
      q.publish(['a', 'b', 'c']);
      assert.deepEqual(q.publish(['a', 'c']).confirmed, [{ seq: 4, duplicate: false }, { seq: 3, duplicate: true }]);
    });

    it('ids made for one local call take no room in the window', () => {
      const q = new Queue({ dedupWindow: { count: 1, ms: 1_000 } });
      q.publish(['a']);
      assert.deepEqual(q.publish(['f1', 'f2'], { fresh: true }).confirmed, [{ seq: 2, duplicate: false }, { seq: 3, duplicate: false }]);
      assert.deepEqual(q.publish(['a']).confirmed, [{ seq: 1, duplicate: true }], 'still in the window');
    });
  });

  describe('purge and delete', () => {
    it('a purge removes the ready and delayed messages in remove records, and leaves the unacked ones with their consumer', () => {
      const q = new Queue();
      q.subscribe('c1', 1);
      q.publish(['a', 'b', 'c']);
      q.publish(['later'], { delayMs: 1_000 });
      const effects = q.machine.handle({ type: 'purge', now: q.now });
      assert.deepEqual(effects.find((e) => e.type === 'purged'), { type: 'purged', count: 3 });
      assert.deepEqual(outcomes(effects).removed, { purged: [2, 3, 4] });
      assert.deepEqual(q.held('c1'), [1]);
      // The unacked one stays the consumer's: a requeue brings it back, and nothing else is left.
      assert.deepEqual(q.settle('c1', [1], 'requeue').delivered, { c1: [[1, 2]] });
      assert.equal(q.tick(2_000).delivered.c1, undefined, 'the purged delayed message never comes due');
      assert.deepEqual({ ...q.machine.snapshot(), counters: undefined }, { ready: 0, delayed: 0, unacked: 1, consumers: 1, counters: undefined });
    });

    it("a delete is a verdict on queue.delete's conditions; the queue stays as it was", () => {
      const q = new Queue();
      const verdict = (ifUnused: boolean, ifEmpty: boolean) => q.machine.handle({ type: 'delete', now: q.now, ifUnused, ifEmpty });
      assert.deepEqual(verdict(true, true), [{ type: 'deletable', held: 0 }]);
      q.publish(['a', 'b']);
      q.publish(['c'], { delayMs: 1_000 });
      q.subscribe('c1', 1);
      assert.deepEqual(verdict(false, true), [{ type: 'undeletable', why: 'not-empty', count: 3 }], 'one unacked, one ready, one delayed');
      assert.deepEqual(verdict(true, false), [{ type: 'undeletable', why: 'in-use', count: 1 }]);
      assert.deepEqual(verdict(false, false), [{ type: 'deletable', held: 3 }]);
      assert.deepEqual(q.held('c1'), [1]);
      assert.equal(q.machine.snapshot().ready, 1);
    });
  });
});
