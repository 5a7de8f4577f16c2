// A consumer as the user holds it: a supervised consumer actor subscribed to a queue, here or remote.
import Denque from 'denque';
import type { ActorRef, ActorSystem } from '../actors/actor.ts';
import { Batcher } from '../actors/batcher.ts';
import type { Ref } from 'nact';
import { consumerBehavior, type ConsumerEnv, type ConsumerGate, type ConsumerMsg } from '../queues/consumer-actor.ts';
import type { QueueEndpoint } from '../queues/endpoint.ts';
import type { Delivery } from '../queues/queue-actor.ts';
import type { Outcome, Settlement } from '../queues/queue-machine.ts';
import { PreconditionFailed } from './errors.ts';
import type { ConsumerTag, MessageId, QueueName, Seq } from './ids.ts';
import { Message, type Settler } from './message.ts';
import { RecentMap } from './recent-map.ts';

/** How many finally settled seqs a consumer remembers, to drop late duplicate deliveries. */
const FINISHED_MEMORY = 10_000;

/**
 * 'deleted': the queue was deleted (deleteQueue, on any node), as AMQP's basic.cancel from the broker.
 * 'ack-timeout': a message it was given stayed unsettled past ackTimeoutMs (RabbitMQ's consumer_timeout):
 * its messages went back to the queue, and what its handler settles later is dropped.
 */
export type ConsumerClosed =
  | { readonly reason: 'cancelled' }
  | { readonly reason: 'deleted' }
  | { readonly reason: 'ack-timeout'; readonly error: PreconditionFailed }
  | { readonly reason: 'failed'; readonly error: unknown };


export class Consumer implements Settler {
  readonly closed: Promise<ConsumerClosed>;
  private resolveClosed!: (c: ConsumerClosed) => void;
  private actor!: ActorRef<ConsumerMsg>;
  private readonly settles: Batcher<Settlement>;
  private readonly inbox = new Denque<Message>();
  /** Handed out by the actor but never to a handler (see passOver). */
  private readonly passedOver = new Set<Seq>();
  /** Delivered and not yet settled, with their ids and when they came: what a reconnect tells the queue this consumer holds. */
  private readonly outstanding = new Map<Seq, { readonly id: MessageId; readonly at: number }>();
  /** Deliveries in the order they came, for the ack timeout: the first one still outstanding is the oldest. */
  private readonly arrivals = new Denque<{ readonly seq: Seq; readonly at: number }>();
  private ageCheck: NodeJS.Timeout | undefined;
  /**
   * Messages this consumer acked or dead-lettered, the last FINISHED_MEMORY of them. Over a network a
   * delivery can arrive twice (a frame buffered across a reconnect, and its redelivery after the
   * reconcile): the second copy of a message already in hand, or already finally settled, is dropped,
   * never handled again. A seq names a message only while the queue's log keeps it (a queue that lost
   * its last writes in a crash gives their seqs to new messages), so the id must match too.
   */
  private readonly finished = new RecentMap<Seq, { readonly id: MessageId; readonly outcome: 'ack' | 'dead-letter' }>(FINISHED_MEMORY);
  /** Shared with the actor: a cancel stops it handling messages, and waits for the one in hand. */
  private readonly gate: ConsumerGate = { draining: false, inHand: undefined };
  private signalled = false;
  private cancelling: Promise<void> | undefined;
  /** Settled by a close that does not wait (the ack timeout, the queue's deletion): a cancel waiting for its handler stops waiting. */
  private forceClose!: (closed: ConsumerClosed) => void;
  private readonly forced = new Promise<ConsumerClosed>((r) => (this.forceClose = r));
  /** Its queue was deleted, or it timed out: its settlements have nowhere to go. */
  private orphaned = false;

  constructor(
    /** Unique in the cluster; safe as an actor name and as one subject token. */
    readonly tag: ConsumerTag,
    readonly queue: QueueName,
    private readonly endpoint: QueueEndpoint,
    private readonly onClosed: (c: Consumer, closed: ConsumerClosed) => void,
    /** How long a delivered message may stay unsettled; 0: for ever. */
    private readonly ackTimeoutMs = 0,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.settles = new Batcher((items) => this.endpoint.settle(this.tag, items));
  }

  /** Spawns the actor under `supervisor` and subscribes it; resolves once deliveries can flow. */
  async start(system: ActorSystem, supervisor: Ref<unknown>, env: Omit<ConsumerEnv, 'onStopped' | 'inbox' | 'wake' | 'gate'>, prefetch: number): Promise<this> {
    this.actor = system.spawn(supervisor, this.tag, consumerBehavior({
      ...env, inbox: this.inbox, gate: this.gate, wake: () => this.wake(), onStopped: (error) => this.stopped(error),
    }));
    await this.endpoint.subscribe(this.tag, { prefetch, deliver: (batch) => this.deliver(batch), held: () => [...this.outstanding.keys()] });
    // Not once closed meanwhile (its queue deleted while it subscribed): nothing would clear it.
    if (this.ackTimeoutMs > 0 && !this.cancelling) this.ageCheck = setInterval(() => this.checkAge(), Math.min(1_000, Math.max(10, this.ackTimeoutMs / 4))).unref();
    return this;
  }

  /**
   * Graceful: lets the message in hand finish, returns the unacked ones to the queue, then stops. Not
   * through the actor's mailbox: an actor that escalated waits for its supervisor's backoff (up to 30 s).
   */
  cancel(): Promise<void> {
    return this.close({ reason: 'cancelled' });
  }

  /**
   * The queue was deleted: the consumer ends at once (a handler running finishes on its own), and what
   * it held or had yet to handle went with the queue.
   */
  queueDeleted(): Promise<void> {
    return this.close({ reason: 'deleted' });
  }

  /**
   * A cancel waits for the message in hand; any other close ends the consumer at once (a handler stuck
   * is why it times out): what it held goes back to the queue, or went with it, and what it settles
   * from now on is dropped.
   */
  private close(closed: ConsumerClosed): Promise<void> {
    if (closed.reason !== 'cancelled') {
      this.orphaned = true;
      this.passOver(this.inbox.toArray());
      this.inbox.clear();
      this.forceClose(closed);
    }
    this.cancelling ??= (async () => {
      this.gate.draining = true;
      // A cancel's wait for the handler ends early if the consumer is forced closed meanwhile.
      const ending = closed.reason === 'cancelled' ? await Promise.race([Promise.resolve(this.gate.inHand).then(() => closed), this.forced]) : closed;
      const graceful = ending.reason === 'cancelled';
      if (!graceful) this.actor.stop();
      // Settlements made so far leave on the next turn; the cancel must reach the queue after them.
      await new Promise((r) => setImmediate(r));
      // Over NATS this also drops the subscription of its deliveries; for a deleted queue, its node answers that it is gone.
      await this.endpoint.cancel(this.tag, this.unseen()).catch(() => {});
      if (graceful) this.actor.stop();
      this.finish(ending);
    })();
    return this.cancelling;
  }

  /**
   * Messages it holds that no handler had: a prefetch left behind by a cancel (in its inbox, or in a
   * messages() loop's buffer, given here). Their deliveries do not count toward the delivery limit.
   */
  passOver(messages: readonly Message[]): void {
    for (const m of messages) this.passedOver.add(m.seq);
  }

  private unseen(): Seq[] {
    const seqs = [...this.passedOver];
    for (const m of this.inbox.toArray()) seqs.push(m.seq);
    return seqs.filter((seq) => this.outstanding.has(seq));
  }

  /** The oldest message still unsettled: past the ack timeout, the consumer ends. */
  private checkAge(): void {
    const now = Date.now();
    for (let first = this.arrivals.peekFront(); first; first = this.arrivals.peekFront()) {
      // Settled, or delivered again since (a later arrival counts): no longer what it waits for.
      if (this.outstanding.get(first.seq)?.at !== first.at) {
        this.arrivals.shift();
        continue;
      }
      if (now - first.at <= this.ackTimeoutMs) return;
      const error = new PreconditionFailed(`consumer ${this.tag} of queue '${this.queue}': message ${first.seq} was not settled within ${this.ackTimeoutMs} ms (ackTimeoutMs); its messages went back to the queue`);
      void this.close({ reason: 'ack-timeout', error });
      return;
    }
  }

  private deliver(batch: readonly Delivery[]): void {
    if (this.orphaned) return;
    const at = Date.now();
    for (const d of batch) {
      const done = this.finished.get(d.seq);
      // The queue lost this consumer's settlement (its actor crashed or was reopened before it got
      // there): settled again, as before, for the queue would otherwise count it held for good.
      if (done?.id === d.id) this.settles.add({ seq: d.seq, outcome: done.outcome, delayMs: undefined });
      // The same message again (in hand, or finally settled): dropped. A seq held under another id names
      // a new message now (the queue lost the old one's writes in a crash): the old delivery is void.
      if (this.outstanding.get(d.seq)?.id === d.id || done?.id === d.id) continue;
      this.outstanding.set(d.seq, { id: d.id, at });
      if (this.ackTimeoutMs > 0) this.arrivals.push({ seq: d.seq, at });
      this.inbox.push(new Message(this.queue, this, d.seq, d.id, d.body, d.headers, d.deliveryCount));
    }
    this.wake();
  }

  /** As in AMQP, a settlement is on its way once queued here, in order; the queue counts stale ones. */
  settle(seq: Seq, outcome: Outcome, delayMs: number | undefined, id?: MessageId): Promise<void> {
    const held = this.outstanding.get(seq)?.id;
    // The seq names another message now (see deliver): this settlement is for one the queue no longer has.
    if (id !== undefined && held !== undefined && held !== id) return Promise.resolve();
    this.outstanding.delete(seq);
    if (this.orphaned) return Promise.resolve();
    if (outcome !== 'requeue' && id !== undefined) {
      this.finished.set(seq, { id, outcome });
    }
    this.settles.add({ seq, outcome, delayMs });
    return Promise.resolve();
  }

  private wake(): void {
    if (this.signalled || !this.actor.alive) return;
    this.signalled = true;
    queueMicrotask(() => {
      this.signalled = false;
      this.actor.tell({ type: 'work' });
    });
  }

  /** The actor stopped: by cancel, or by supervision (then its messages go back to the queue). */
  private stopped(error: unknown): void {
    if (this.cancelling || this.orphaned) return;
    this.endpoint.cancel(this.tag, this.unseen()).catch(() => {});
    this.finish(error === undefined ? { reason: 'cancelled' } : { reason: 'failed', error });
  }

  private finish(closed: ConsumerClosed): void {
    clearInterval(this.ageCheck);
    this.resolveClosed(closed);
    this.onClosed(this, closed);
  }
}
