// exactlyOnce(store, handler): a consume handler whose effect happens once per message, however often
// the message is delivered. The effect and the message id are recorded together in `store`; then the
// message is acked. A crash before the record leaves nothing behind (the redelivery applies the
// effect); a crash between the record and the ack leaves the id behind (the redelivery is a duplicate:
// acked, no effect). How exact "together" is depends on the store: see the store table in ../README.md.
//
// It does not catch a producer that publishes one logical message twice under two ids: give messages
// ids of your own (publish's `id`) and the queue's dedup window catches that side.
import type { Message } from '../node/message.ts';
import { dedupKey } from '../storage/replay.ts';
import type { InboxOutcome, InboxStore } from './inbox-store.ts';

export type EffectHandler<Tx> = (msg: Message, tx: Tx) => Promise<void>;

/** Sees each delivery's outcome once the store has settled it, before the message is: metrics, tests. */
export type OutcomeObserver = (outcome: InboxOutcome, msg: Message) => void | Promise<void>;

export function exactlyOnce<Tx>(store: InboxStore<Tx>, handler: EffectHandler<Tx>, observe?: OutcomeObserver): (msg: Message) => Promise<void> {
  return async (msg) => {
    // Keyed as the queue's dedup keys it: dead letters of one id from two queues are two messages.
    const outcome = await store.run({ queue: msg.queue, id: dedupKey(msg.id, msg.headers), deliveryCount: msg.deliveryCount }, (tx) => handler(msg, tx));
    await observe?.(outcome, msg);
    if (msg.settled) return;
    // A stale delivery's settlement is ignored by the queue (counted in staleSettlements), so acking
    // after a commit needs no care. A fenced one is nacked, not acked: if the queue's count went back
    // (a restart that lost its last 'delivered' records), this delivery is the live one, and the
    // redelivery, counted higher, passes the fence; an ack would lose the message with no effect.
    await (outcome === 'fenced' ? msg.nack() : msg.ack());
  };
}
