// The store side of exactly-once effects: an inbox of message ids, recorded with the handler's effect.
// A delivery is named by its queue, message id and delivery count. The count is the fencing token:
// the queue raises it on every delivery of a message, so a store that remembers the highest count
// that started can refuse a delivery that was taken back from its consumer (cancel, failover).
export interface DeliveryKey {
  readonly queue: string;
  readonly id: string;
  readonly deliveryCount: number;
}

/**
 * 'applied': the effect ran and the id was recorded. 'duplicate': the id was recorded before (a
 * redelivery after the commit): no effect. 'fenced': a newer delivery of the message has started, so
 * this one is stale: no effect.
 */
export type InboxOutcome = 'applied' | 'duplicate' | 'fenced';

export interface InboxStore<Tx> {
  /**
   * Runs `effect` and records the delivery, as atomically as the store can (each store says how).
   * Throws, recording nothing, if `effect` throws.
   */
  run(key: DeliveryKey, effect: (tx: Tx) => Promise<void>): Promise<InboxOutcome>;
}

/** One message of one queue; unambiguous because queue names never hold '/'. */
export const inboxKey = (key: DeliveryKey): string => `${key.queue}/${key.id}`;
