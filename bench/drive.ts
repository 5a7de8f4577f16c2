// The one loop every workload runs: start the consumers, publish N messages through the confirm
// window, wait until every queue acked every message (or the run stalls), and tally.
import { encodeBody, now } from './payload.ts';
import { readRss, RssSampler, type RssPeak } from './rss.ts';
import { Tracker, type Tally } from './tracker.ts';
import type { Delivery, Session } from './types.ts';
import { publishAll } from './window.ts';

export interface DriveOptions {
  readonly n: number;
  /** Consumers, one per queue of the topology. */
  readonly queues: number;
  readonly prefetch: number;
  readonly maxInFlight: number;
  /** No confirm, delivery or ack for this long ends the run as incomplete. */
  readonly stallMs: number;
  /** Decides when an ack is sent (W3's rate limit); by default at once. */
  readonly gateAck?: (ack: () => void) => void;
  /** Sample the RSS of the process holding the backlog during the run (W3). */
  readonly sampleRss?: boolean;
}

export interface DriveResult extends Tally {
  readonly lastConfirmAt: number;
  readonly rss?: RssPeak;
}

export async function drive(session: Session, o: DriveOptions): Promise<DriveResult> {
  const tracker = new Tracker(o.n, o.queues);
  let consumerError: Error | undefined;
  const gate = o.gateAck ?? ((ack: () => void) => ack());

  const onMessage = (queue: number) => (delivery: Delivery): void => {
    // Duplicates and corrupt bodies are acked too, so that they do not come back, but not counted.
    const counted = tracker.delivered(queue, delivery.body);
    gate(() => settle(delivery, counted));
  };
  const fail = (e: unknown): void => {
    consumerError ??= e instanceof Error ? e : new Error(String(e));
    tracker.halt();
  };
  const settle = (delivery: Delivery, counted: boolean): void => {
    let acking: void | Promise<void>;
    try {
      acking = delivery.ack();
    } catch (e) {
      return fail(e);
    }
    // Fire-and-forget acks (AMQP, JetStream) count when sent; confirmed ones when confirmed.
    if (acking === undefined) {
      if (counted) tracker.ackedOne();
    } else {
      acking.then(() => {
        if (counted) tracker.ackedOne();
      }, fail);
    }
  };

  for (let q = 0; q < o.queues; q++) await session.consume(q, o.prefetch, onMessage(q));

  const pid = o.sampleRss ? session.serverPid() : undefined;
  const sampler = pid !== undefined && readRss(pid) !== undefined ? new RssSampler(pid) : undefined;
  let rss: RssPeak | undefined;
  let lastConfirmAt: number;
  try {
    tracker.started();
    await publishAll(o.n, o.maxInFlight, (seq) => session.publish(encodeBody(seq, now())).then(() => tracker.progress()));
    lastConfirmAt = now();
    await tracker.done(o.stallMs);
  } finally {
    rss = sampler?.stop();
  }
  if (consumerError) throw consumerError;
  return { ...tracker.tally(), lastConfirmAt, ...(rss ? { rss } : {}) };
}
