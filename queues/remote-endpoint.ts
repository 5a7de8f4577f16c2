// A queue whose leader is another node, reached over NATS. Publishes travel in batches and are
// retried with the same message ids until confirmed (the leader's dedup makes a retry harmless), so a
// dropped connection or a restarted server loses nothing and doubles nothing. Settlements are
// retried the same way (settling twice is a no-op). After a reconnect each consumer tells the leader
// what it holds, so deliveries lost in transit go back in line.
import { Batcher } from '../actors/batcher.ts';
import { NotConfirmed, remoteError, Stopped, WarrenError } from '../node/errors.ts';
import { asMessageId, asSeq, type ConsumerTag, type QueueName, type Seq } from '../node/ids.ts';
import { backoffDelay, type BackoffOptions } from '../supervision/backoff.ts';
import type { ClusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, encode, messageBytes, type Frame, type PublishEntry } from '../transport/frame.ts';
import type { Subscription, Transport } from '../transport/transport.ts';
import { DeliveryTags } from './delivery-tags.ts';
import type { DeleteConditions, PublishRequest, PublishResult, QueueEndpoint } from './endpoint.ts';
import type { Subscriber } from './queue-actor.ts';
import type { Settlement } from './queue-machine.ts';
import { chunks, consumerNotice, control, controlOk, expectReply } from './remote-protocol.ts';

export interface RemoteOptions {
  /** One request's wait for its reply. */
  readonly requestTimeoutMs: number;
  /** How long a publish keeps being retried before it is refused as NotConfirmed. */
  readonly confirmDeadlineMs: number;
  readonly retry: BackoffOptions;
}

export const defaultRemote: RemoteOptions = {
  requestTimeoutMs: 5_000,
  confirmDeadlineMs: 60_000,
  retry: { minMs: 50, maxMs: 2_000, jitter: 0.5 },
};

interface Pending {
  readonly item: PublishRequest;
  readonly resolve: (r: PublishResult) => void;
  readonly reject: (e: Error) => void;
}

/** How long a probe of a new leader waits: it is local work on the other side, no fsync. */
const PROBE_TIMEOUT_MS = 250;

/** A retryable failure: the request was waiting on a leader that was replaced. */
class LeaderChanged extends Error {
  static pending(): { promise: Promise<never>; fire: () => void } {
    let fire!: () => void;
    const promise = new Promise<never>((_, reject) => { fire = () => reject(new LeaderChanged('the queue has a new leader')); });
    promise.catch(() => {});
    return { promise, fire };
  }
}

export class RemoteEndpoint implements QueueEndpoint {
  private readonly publisher = new Batcher<Pending>((items) => void this.sendPublishes(items));
  private readonly consumers = new Map<ConsumerTag, { subscriber: Subscriber; sub: Subscription }>();
  /** Settlements in flight: pipelined (NATS keeps one connection's order), awaited before a cancel. */
  private readonly settling = new Set<Promise<unknown>>();
  private readonly tags = new DeliveryTags();
  /** Rejected when the leader changes: requests waiting on a dead leader are sent again at once. */
  private leaderChanged = LeaderChanged.pending();
  /** The node stopped: nothing is sent, retried or probed any more. */
  private closed = false;
  /** Where the queue's node says it opened the queue (after a restart): subscribed with the first consumer. */
  private opened: Subscription | undefined;
  /** Rejoins run one after another (see rejoin). */
  private rejoining: Promise<void> = Promise.resolve();
  /** The node is stopping (see windDown). */
  private winding = false;

  constructor(
    readonly name: QueueName,
    private readonly transport: Transport,
    private readonly subjects: ClusterSubjects,
    private readonly nodeId: string,
    /** What went wrong without a caller to tell: settlements the leader did not take. */
    private readonly onError: (e: Error) => void,
    private readonly opts: RemoteOptions = defaultRemote,
    /**
     * The newest leader epoch seen (mirrored queues): deliveries of older ones are dropped. From the
     * metadata when made, so that a later change of it that keeps the leader (inSync) is no failover.
     */
    private epoch = 0,
  ) {}

  publish<R>(item: PublishRequest, result: (r: PublishResult) => R): Promise<R> {
    return new Promise((resolve, reject) => this.publisher.add({ item, resolve: (r) => resolve(result(r)), reject }));
  }

  async subscribe(consumer: ConsumerTag, subscriber: Subscriber): Promise<void> {
    this.opened ??= this.transport.subscribe(this.subjects.opened(this.name), (m) => {
      try {
        if (isNotice(decode(m.data))) void this.resync();
      } catch {
        // Not a notice: ignored.
      }
    });
    const sub = this.transport.subscribe(this.subjects.deliver(consumer), (m) => {
      try {
        const f = decode(m.data);
        if (f.type === 'control') return void (isNotice(f) && this.rejoin(consumer));
        if (f.type !== 'deliver' || f.epoch < this.epoch) return;
        this.epoch = f.epoch;
        subscriber.deliver(f.entries.map((e) => ({ seq: this.tags.tag(f.epoch, asSeq(e.seq)), id: asMessageId(e.id), headers: e.headers, deliveryCount: e.deliveryCount, body: e.body })));
      } catch {
        // Not from a leader of ours: ignored (the leader's own frames always decode).
      }
    });
    this.consumers.set(consumer, { subscriber, sub });
    await this.transport.flush();
    await this.control({ op: 'subscribe', consumer, node: this.nodeId, prefetch: subscriber.prefetch });
  }

  settle(consumer: ConsumerTag, items: readonly Settlement[]): void {
    const byEpoch = new Map<number, Settlement[]>();
    for (const s of items) {
      const origin = this.tags.origin(s.seq);
      if (!origin) continue;
      let settled = byEpoch.get(origin.epoch);
      if (!settled) byEpoch.set(origin.epoch, (settled = []));
      settled.push({ ...s, seq: origin.seq });
    }
    const frames = [...byEpoch].flatMap(([epoch, settled]) => chunks(settled, () => 24).map((part) => encode({
      type: 'settle', consumer, epoch, entries: part.map((s) => ({ seq: s.seq, outcome: s.outcome, delayMs: s.delayMs ?? 0 })),
    })));
    for (const frame of frames) {
      const p = this.retrying(() => this.request(this.subjects.settle(this.name), frame).then(controlOk))
        .catch((err: unknown) => {
          if (this.closed || err instanceof Stopped) return;
          // Nobody awaits a settlement: the node reports it. The leader still counts those deliveries as held, so they come again.
          this.onError(new NotConfirmed(`queue '${this.name}': the leader did not take settlements of consumer '${consumer}' (they are delivered again): ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        })
        .finally(() => this.settling.delete(p));
      this.settling.add(p);
    }
  }

  async cancel(consumer: ConsumerTag, unseen: readonly Seq[] = []): Promise<void> {
    await Promise.all(this.settling);
    const c = this.consumers.get(consumer);
    this.consumers.delete(consumer);
    if (this.consumers.size === 0) {
      // Nobody here to resync: a later first consumer subscribes to the notices again.
      this.opened?.unsubscribe();
      this.opened = undefined;
    }
    try {
      await this.control({ op: 'cancel', consumer, unseen: this.leaderSeqs(unseen) });
    } finally {
      c?.sub.unsubscribe();
    }
  }

  async reconcile(consumer: ConsumerTag, holds: readonly Seq[]): Promise<boolean> {
    return (await this.control({ op: 'reconcile', consumer, holds: this.leaderSeqs(holds) })).known ?? false;
  }

  /** The seqs, among these delivery tags, of the current leader's deliveries, as it numbers them. */
  private leaderSeqs(tags: readonly Seq[]): Seq[] {
    return tags.flatMap((tag) => {
      const origin = this.tags.origin(tag);
      return origin?.epoch === this.epoch ? [origin.seq] : [];
    });
  }

  /** Asks the leader: the purge happens there, and its remove records reach the mirrors with the rest of the log. */
  async purge(): Promise<number> {
    return (await this.once({ op: 'purge' })).count ?? 0;
  }

  async delete(conditions: DeleteConditions): Promise<number> {
    return (await this.once({ op: 'delete', ...conditions })).count ?? 0;
  }

  /** A new leader (mirrored queues): consumers subscribe to it; what they hold from the old one is redelivered. */
  failover(epoch: number): void {
    if (epoch <= this.epoch) return;
    this.epoch = epoch;
    void this.serving(epoch).then(() => {
      if (this.epoch !== epoch) return;
      const changed = this.leaderChanged;
      this.leaderChanged = LeaderChanged.pending();
      changed.fire();
      return this.resync();
    });
  }

  /**
   * Waits until the leader of `epoch` answers on the queue's subjects. Sent earlier, a retry may reach
   * only the old leader (a paused process keeps its subscriptions) and wait out a whole timeout.
   */
  private async serving(epoch: number): Promise<void> {
    const deadline = Date.now() + this.opts.confirmDeadlineMs;
    while (this.epoch === epoch && !this.closed && Date.now() < deadline) {
      const reply = await this.transport.request(this.subjects.control(this.name), control({ op: 'stats' }), { timeoutMs: PROBE_TIMEOUT_MS }).then(controlOk, () => undefined);
      if (Number(reply?.stats?.epoch ?? -1) >= epoch) return;
      await new Promise((r) => setTimeout(r, PROBE_TIMEOUT_MS / 5));
    }
  }

  /** One request, given up early if the leader changes meanwhile (the retry goes to the new one). */
  private request(subject: string, data: Uint8Array, timeoutMs = this.opts.requestTimeoutMs): Promise<Uint8Array> {
    return Promise.race([this.transport.request(subject, data, { timeoutMs }), this.leaderChanged.promise]);
  }

  /** The queue's stats, as its leader sees them: one request, no retries (a reading, not a command). */
  async stats(): Promise<Record<string, unknown>> {
    return controlOk(await this.request(this.subjects.control(this.name), control({ op: 'stats' }))).stats ?? {};
  }

  /** After a reconnect: every consumer reconciles what it holds, or subscribes again if the leader forgot it. */
  async resync(): Promise<void> {
    for (const consumer of [...this.consumers.keys()]) await this.rejoin(consumer);
  }

  /**
   * A consumer reconciles what it holds with the leader, or subscribes again if the leader forgot it.
   * One at a time: a reconcile overtaken by another rejoin's subscribe would give back deliveries on their way.
   */
  private rejoin(consumer: ConsumerTag): Promise<void> {
    const run = this.rejoining.then(() => this.rejoinNow(consumer));
    this.rejoining = run.catch(() => {});
    return run;
  }

  private async rejoinNow(consumer: ConsumerTag): Promise<void> {
    await Promise.all(this.settling);
    const c = this.consumers.get(consumer);
    if (!c || this.closed) return;
    const known = await this.reconcile(consumer, c.subscriber.held()).catch(() => false);
    if (!known && this.consumers.has(consumer)) await this.control({ op: 'subscribe', consumer, node: this.nodeId, prefetch: c.subscriber.prefetch }).catch(() => {});
  }

  private async sendPublishes(items: readonly Pending[]): Promise<void> {
    await Promise.all(chunks(items, (p) => messageBytes(p.item)).map((part) => this.sendChunk(part)));
  }

  private async sendChunk(part: readonly Pending[]): Promise<void> {
    const frame = encode({ type: 'publish', queue: this.name, entries: part.map((p): PublishEntry => ({ id: p.item.id, headers: p.item.headers, priority: p.item.priority, delayMs: p.item.delayMs ?? 0, ttlMs: p.item.ttlMs ?? 0, body: p.item.body })) });
    try {
      const ack = await this.retrying(async () => expectReply(await this.request(this.subjects.publish(this.name), frame), 'publish-ack'));
      part.forEach((p, i) => {
        const e = ack.entries[i];
        if (e?.ok) p.resolve({ seq: asSeq(e.seq), duplicate: e.duplicate });
        else p.reject(e ? remoteError(e.code, e.message) : new NotConfirmed(`queue '${this.name}': no answer for this message`));
      });
    } catch (err) {
      // The queue's node answered with an error for the whole frame, or none came in time.
      const e = err instanceof WarrenError ? err : new NotConfirmed(`queue '${this.name}': not confirmed within ${this.opts.confirmDeadlineMs} ms`, { cause: err });
      for (const p of part) p.reject(e);
    }
  }

  private control(req: Parameters<typeof control>[0]) {
    return this.retrying(async () => controlOk(await this.request(this.subjects.control(this.name), control(req))));
  }

  /**
   * A request that is not safe to repeat, sent once, with the whole deadline to answer: a purge sent
   * again would also remove what was published in between, a delete sent again could delete the queue
   * declared anew meanwhile. Without an answer it may or may not have happened (NotConfirmed).
   */
  private async once(req: Extract<Parameters<typeof control>[0], { op: 'purge' | 'delete' }>) {
    if (this.closed) throw new Stopped(`the way to queue '${this.name}'`);
    try {
      return controlOk(await this.request(this.subjects.control(this.name), control(req), this.opts.confirmDeadlineMs));
    } catch (err) {
      if (err instanceof WarrenError) throw err;
      throw new NotConfirmed(`queue '${this.name}': no answer to ${req.op} (it may have been done)`, { cause: err });
    }
  }

  /**
   * The node is stopping: what it still sends (its consumers' cancels, their last settlements) is
   * tried once, so that a leader gone meanwhile does not hold the stop for the whole confirm deadline.
   */
  windDown(): void {
    this.winding = true;
  }

  /** The node stops: what fails from now on is not retried (Stopped), and a new leader is not probed for. */
  close(): void {
    this.closed = true;
    this.opened?.unsubscribe();
  }

  /** Retries what failed for the network's sake (timeouts, no leader yet) until the deadline; an answer that is an error is final. */
  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.opts.confirmDeadlineMs;
    for (let n = 1; ; n++) {
      if (this.closed) throw new Stopped(`the way to queue '${this.name}'`);
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof WarrenError || this.winding || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, backoffDelay(n, this.opts.retry)));
      }
    }
  }
}

/** A queue node's notice to its consumers (remote-protocol's consumerNotice); anything else is not one. */
function isNotice(f: Frame): boolean {
  if (f.type !== 'control') return false;
  try {
    return consumerNotice.safeParse(JSON.parse(f.json)).success;
  } catch {
    return false;
  }
}
