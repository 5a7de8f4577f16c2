// What the store tests share: a real embedded node whose messages fail at a chosen point of their
// first delivery, the same effect with and without exactlyOnce, a tally for the report line, and the
// fault-schedule property that every store is held to.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Consumer, Message, Warren } from '../index.ts';
import { memoryNode, until } from '../node/testing.ts';
import { propertyParams } from '../property-tests/params.ts';
import { exactlyOnce } from './exactly-once.ts';
import type { InboxOutcome, InboxStore } from './inbox-store.ts';

/** Where the first delivery of a message that its handler sees goes wrong; later ones go right. */
export type Fault =
  | 'none'
  /** The handler throws before its effect: nothing recorded, supervision nacks. */
  | 'throw-before-effect'
  /** The handler throws after its effect, before the record: a transactional store rolls it back. */
  | 'throw-after-effect'
  /** A crash between the record and the ack: supervision nacks. */
  | 'throw-after-commit'
  /** The message is nacked rather than acked once recorded. */
  | 'nack-after-commit'
  /** The consumer is cancelled between the record and the ack: the message goes to the next consumer. */
  | 'cancel-after-commit';

export const FAULTS: readonly Fault[] = ['none', 'throw-before-effect', 'throw-after-effect', 'throw-after-commit', 'nack-after-commit', 'cancel-after-commit'];

/** Faults that make a delivery without exactlyOnce repeat its effect. */
export const REPEATING: ReadonlySet<Fault> = new Set(['throw-after-effect', 'throw-after-commit', 'nack-after-commit', 'cancel-after-commit']);

export class Tally {
  attempted = 0;
  deliveries = 0;
  redeliveries = 0;
  readonly outcomes: Record<InboxOutcome, number> = { applied: 0, duplicate: 0, fenced: 0 };
  effects = 0;
  duplicateEffects = 0;

  /** Counts the effects applied, given as one entry per application. */
  count(applied: readonly string[]): void {
    this.effects += applied.length;
    this.duplicateEffects += applied.length - new Set(applied).size;
  }

  line(name: string, seed: number): string {
    return `report ${name}: attempted=${this.attempted} deliveries=${this.deliveries} redeliveries=${this.redeliveries} ` +
      `dedup hits=${this.outcomes.duplicate} fenced=${this.outcomes.fenced} effects=${this.effects} duplicate effects=${this.duplicateEffects} seed=${seed}`;
  }
}

export interface FaultPlan {
  faultOf(m: Message): Fault;
  /** What the delivery's fault does once its effect is recorded, before the ack: throw, nack or cancel. */
  afterCommit(m: Message): Promise<void>;
}

/** The effect wrapped in the plan's faults before and after it. */
export function faulty<Tx>(plan: FaultPlan, effect: (m: Message, tx: Tx) => Promise<void>): (m: Message, tx: Tx) => Promise<void> {
  return async (m, tx) => {
    if (plan.faultOf(m) === 'throw-before-effect') throw new Error('crash before the effect');
    await effect(m, tx);
    if (plan.faultOf(m) === 'throw-after-effect') throw new Error('crash after the effect, before the record');
  };
}

export function withExactlyOnce<Tx>(store: InboxStore<Tx>, effect: (m: Message, tx: Tx) => Promise<void>, tally: Tally): (plan: FaultPlan) => (m: Message) => Promise<void> {
  return (plan) => exactlyOnce(store, faulty(plan, effect), async (outcome, m) => {
    tally.outcomes[outcome]++;
    if (outcome === 'applied') await plan.afterCommit(m);
  });
}

/** The same effect and faults, acked by hand: what exactlyOnce saves us from. */
export function withoutExactlyOnce(effect: (m: Message) => Promise<void>): (plan: FaultPlan) => (m: Message) => Promise<void> {
  return (plan) => async (m) => {
    await faulty(plan, effect)(m, undefined);
    await plan.afterCommit(m);
    if (!m.settled) await m.ack();
  };
}

/**
 * Publishes one message per fault (body = its index) to a new queue and consumes until every one is
 * acked. A delivery whose fault is a cancel is handed off (the handler returns at once, as with a
 * worker pool), so that its consumer can be cancelled while it runs and replaced by a new one.
 */
export async function runFaults(node: Warren, queue: string, faults: readonly Fault[], handlerFor: (plan: FaultPlan) => (m: Message) => Promise<void>, tally: Tally): Promise<void> {
  await node.declareQueue(queue, { maxDeliveries: 10 });
  const handedOff: Promise<void>[] = [];
  let consumer: Consumer | undefined;
  let rotation = Promise.resolve();
  /** Message index → the delivery that carries its fault (one returned unseen by a cancel does not). */
  const carrier = new Map<number, number>();
  const plan: FaultPlan = {
    faultOf(m) {
      const i = Number(m.text());
      if (!carrier.has(i)) carrier.set(i, m.deliveryCount);
      return carrier.get(i) === m.deliveryCount ? faults[i] ?? 'none' : 'none';
    },
    async afterCommit(m) {
      switch (plan.faultOf(m)) {
        case 'throw-after-commit': throw new Error('crash between the record and the ack');
        case 'nack-after-commit': return m.nack();
        case 'cancel-after-commit': return (rotation = rotation.then(async () => { await consumer!.cancel(); await consume(); }));
        default: return undefined;
      }
    },
  };
  const handler = handlerFor(plan);
  const consume = async () => {
    consumer = await node.consume(queue, (m) => {
      tally.deliveries++;
      if (m.redelivered) tally.redeliveries++;
      const handled = handler(m);
      if (plan.faultOf(m) !== 'cancel-after-commit') return handled;
      handled.catch(() => {});
      handedOff.push(handled);
      return undefined;
    }, { ack: 'manual', retry: { backoffMs: 1, maxBackoffMs: 2 }, supervision: { maxRestarts: 1_000 } });
  };
  await consume();
  tally.attempted += faults.length;
  for (let i = 0; i < faults.length; i++) await node.publish({ queue }, String(i), { id: `${queue}-${i}` });
  const stats = () => node.stats().queues.find((q) => q.name === queue)!;
  await until(() => stats().acked === faults.length, `${queue}: all acked`, 20_000);
  await Promise.all(handedOff);
  await rotation;
  await consumer!.cancel();
}

/** One fresh store for one fault schedule, so that ids recorded by one schedule never reach the next. */
export interface StoreCase<Tx> {
  readonly store: InboxStore<Tx>;
  /** Applies the effect of `m` (its body), into `tx` or wherever this store's effects go. */
  effect(m: Message, tx: Tx): Promise<void>;
  /** The bodies of the effects that took hold, one entry per application. */
  readonly committed: readonly string[];
  close?(): Promise<void>;
}

export interface StoreSpec<Tx> {
  readonly name: string;
  open(): Promise<StoreCase<Tx>>;
  /**
   * Whether the effect commits with the record. If not, a crash after the effect and before the
   * record ('throw-after-effect') repeats it on redelivery: the window such a store documents.
   */
  readonly transactional: boolean;
  readonly runs: number;
}

/** Applications per message, by message index (the body). */
function countsOf(applied: readonly string[], messages: number): number[] {
  const counts = Array.from({ length: messages }, () => 0);
  for (const body of applied) counts[Number(body)]!++;
  return counts;
}

/**
 * Random fault schedules through a real node: with exactlyOnce every effect happens exactly once,
 * except the store's own window (twice); the same schedule without exactlyOnce repeats every effect
 * that a fault after it hits. Prints a report line for both.
 */
export async function storeProperty<Tx>(spec: StoreSpec<Tx>): Promise<void> {
  const tally = new Tally();
  const plain = new Tally();
  const params = propertyParams<[Fault[]]>(`exactlyOnce ${spec.name}`, spec.runs);
  const schedules = fc.array(fc.constantFrom(...FAULTS), { minLength: 1, maxLength: 10 });
  try {
    await fc.assert(fc.asyncProperty(schedules, async (schedule) => {
      const node = await memoryNode();
      const inbox = await spec.open();
      try {
        await runFaults(node, 'with', schedule, withExactlyOnce(inbox.store, (m, tx) => inbox.effect(m, tx), tally), tally);
        tally.count(inbox.committed);
        const repeated = (f: Fault) => !spec.transactional && f === 'throw-after-effect';
        assert.deepEqual(countsOf(inbox.committed, schedule.length), schedule.map((f) => (repeated(f) ? 2 : 1)), 'each effect once, twice only in the window');

        const applied: string[] = [];
        await runFaults(node, 'without', schedule, withoutExactlyOnce(async (m) => { applied.push(m.text()); }), plain);
        plain.count(applied);
        assert.deepEqual(countsOf(applied, schedule.length), schedule.map((f) => (REPEATING.has(f) ? 2 : 1)), 'without it, every fault after the effect repeats it');
      } finally {
        await inbox.close?.();
        await node.stop();
      }
    }), { ...params, examples: [[['cancel-after-commit', 'throw-after-commit', 'nack-after-commit', 'throw-after-effect', 'throw-before-effect', 'none']]] });
  } finally {
    console.log(tally.line(spec.name, params.seed!));
    console.log(plain.line(`${spec.name}, without exactlyOnce`, params.seed!));
  }
  assert.ok(tally.duplicateEffects < plain.duplicateEffects, 'the mechanism matters');
}
