// The leader side of a queue on NATS: turns frames on the queue's subjects into calls on its local
// endpoint, and deliveries to remote consumers into DELIVER frames. Anything it cannot accept (garbage,
// a wrong version, an oversized frame, a frame for another queue, a bad control request) gets an error
// reply where there is a reply subject, and a count; the queue keeps serving.
import { asConsumerTag, asMessageId, type ConsumerTag, type Seq } from '../node/ids.ts';
import { overPayload } from '../node/limits.ts';
import { WarrenError } from '../node/errors.ts';
import type { ClusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, encode, FrameError, messageBytes, type PublishAckEntry, type PublishEntry } from '../transport/frame.ts';
import type { Subscription, Transport, TransportMessage } from '../transport/transport.ts';
import type { DeleteConditions, LocalEndpoint } from './endpoint.ts';
import type { Delivery, PendingPublish } from './queue-actor.ts';
import { chunks, control, controlRequest, errorFrame, Replier } from './remote-protocol.ts';

export interface ServerCounters {
  /** Frames and requests refused, by reason. */
  readonly rejected: Map<string, number>;
}

export class QueueServer {
  private readonly replier: Replier;
  private subs: Subscription[] = [];
  /** Remote consumers by the node they live on: a node that goes down has its consumers cancelled. */
  private readonly byNode = new Map<string, Set<ConsumerTag>>();

  constructor(
    private readonly transport: Transport,
    private readonly subjects: ClusterSubjects,
    private readonly endpoint: LocalEndpoint,
    counters: ServerCounters,
    /** The queue's stats, for nodes that ask (the CLI's `warren stats` on a cluster). */
    private readonly stats: () => Record<string, unknown>,
    /** Deletes the queue from its node (Warren.deleteHere): the node closes this server too. */
    private readonly remove: (conditions: DeleteConditions) => Promise<number>,
    /** The leader's epoch (mirrored queues; 0 otherwise): deliveries carry it, settlements must match it. */
    private readonly epoch: () => number,
    /** A subscribe names this node: unless it is (or soon is) heard from, nodeDown follows (Membership.expect). */
    private readonly expect: (node: string) => void,
  ) {
    this.replier = new Replier(transport, counters.rejected);
  }

  start(): void {
    const q = this.endpoint.name;
    this.subs = [
      this.transport.subscribe(this.subjects.publish(q), (m) => this.onPublish(m)),
      this.transport.subscribe(this.subjects.settle(q), (m) => this.onSettle(m)),
      this.transport.subscribe(this.subjects.control(q), (m) => void this.onControl(m)),
    ];
    // After its node's restart, a queue knows none of the consumers that other nodes still run. (A
    // mirrored queue's consumers follow its leader through the metadata: a new epoch, a failover.)
    if (this.epoch() === 0) this.transport.publish(this.subjects.opened(q), control({ op: 'opened' }));
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  /** Returns what a dead node's consumers held to the queue. */
  async nodeDown(node: string): Promise<void> {
    const tags = this.byNode.get(node);
    this.byNode.delete(node);
    for (const tag of tags ?? []) {
      await this.endpoint.cancel(tag).catch(() => {});
      this.transport.publish(this.subjects.deliver(tag), control({ op: 'forgotten' }));
    }
  }

  private onPublish(m: TransportMessage): void {
    const frame = this.accept(m, 'publish');
    if (!frame) return;
    if (frame.queue !== this.endpoint.name) return this.replier.refuse(m, 'wrong-queue', `this subject serves queue '${this.endpoint.name}', not '${frame.queue}'`);
    // The frame is the batch: its valid entries reach the queue actor as one message, and the reply
    // leaves once every entry has its answer.
    const entries: PublishAckEntry[] = new Array(frame.entries.length);
    const items: PendingPublish[] = [];
    let unanswered = frame.entries.length;
    const answer = (i: number, entry: PublishAckEntry): void => {
      entries[i] = entry;
      if (--unanswered > 0 || !m.reply) return;
      let ack = encode({ type: 'publish-ack', entries });
      // Refusals may take more room than the entries they answer (a frame of many bad ones): then they
      // go without their messages, their codes only (no larger than the entries), as the answer must
      // still say which entries were stored.
      if (ack.length > this.transport.maxPayload) {
        this.replier.count('oversized-answer');
        ack = encode({ type: 'publish-ack', entries: entries.map((e) => (e.ok ? e : { ...e, message: '' })) });
      }
      this.transport.publish(m.reply, ack);
    };
    frame.entries.forEach((e, i) => {
      const invalid = invalidEntry(e, this.transport.maxPayload);
      if (invalid) {
        this.replier.count('invalid-entry');
        return answer(i, { ok: false, code: 'INVALID_ARGUMENT', message: invalid });
      }
      // The body is a view into the network buffer: keep a copy of its own.
      const body = e.body.slice();
      items.push({
        id: asMessageId(e.id), headers: e.headers, priority: e.priority, delayMs: e.delayMs || undefined, ttlMs: e.ttlMs || undefined, size: body.length, body,
        done: (r) => answer(i, r instanceof Error
          ? { ok: false, code: r instanceof WarrenError ? r.code : 'NOT_CONFIRMED', message: r.message }
          : { ok: true, seq: r.seq, duplicate: r.duplicate }),
      });
    });
    if (items.length) this.endpoint.publishBatch(items);
    else if (frame.entries.length === 0 && m.reply) this.transport.publish(m.reply, encode({ type: 'publish-ack', entries }));
  }

  private onSettle(m: TransportMessage): void {
    const frame = this.accept(m, 'settle');
    if (!frame) return;
    const consumer = asConsumerTag(frame.consumer);
    // A settlement of a delivery made by an earlier leader: its seqs may name other messages here.
    if (frame.epoch !== this.epoch()) {
      this.replier.count('stale-epoch');
      return this.replier.reply(m, control({ ok: true }));
    }
    this.endpoint.settle(consumer, frame.entries.map((e) => ({ seq: e.seq as Seq, outcome: e.outcome, ...(e.delayMs ? { delayMs: e.delayMs } : {}) })));
    this.replier.reply(m, control({ ok: true }));
  }

  private async onControl(m: TransportMessage): Promise<void> {
    const frame = this.accept(m, 'control');
    if (!frame) return;
    let json: unknown;
    try {
      json = JSON.parse(frame.json);
    } catch {
      return this.replier.refuse(m, 'malformed', 'control payload is not JSON');
    }
    const parsed = controlRequest.safeParse(json);
    if (!parsed.success) return this.replier.refuse(m, 'malformed', `bad control request: ${parsed.error.issues[0]?.message}`);
    const req = parsed.data;
    try {
      switch (req.op) {
        case 'subscribe': {
          const consumer = asConsumerTag(req.consumer);
          const deliverTo = this.subjects.deliver(consumer);
          await this.endpoint.subscribe(consumer, {
            prefetch: req.prefetch,
            deliver: (batch) => this.deliver(deliverTo, consumer, batch),
            held: () => [],
          });
          const tags = this.byNode.get(req.node) ?? new Set();
          this.byNode.set(req.node, tags.add(consumer));
          this.expect(req.node);
          return this.replier.reply(m, control({ ok: true }));
        }
        case 'cancel': {
          const consumer = asConsumerTag(req.consumer);
          for (const tags of this.byNode.values()) tags.delete(consumer);
          await this.endpoint.cancel(consumer, (req.unseen ?? []) as Seq[]);
          return this.replier.reply(m, control({ ok: true }));
        }
        case 'reconcile':
          return this.replier.reply(m, control({ ok: true, known: await this.endpoint.reconcile(asConsumerTag(req.consumer), req.holds as Seq[]) }));
        case 'stats':
          return this.replier.reply(m, control({ ok: true, stats: this.stats() }));
        case 'purge':
          return this.replier.reply(m, control({ ok: true, count: await this.endpoint.purge() }));
        case 'delete':
          return this.replier.reply(m, control({ ok: true, count: await this.remove({ ifUnused: req.ifUnused, ifEmpty: req.ifEmpty }) }));
      }
    } catch (err) {
      this.replier.reply(m, errorFrame(err instanceof WarrenError ? err.code : 'ERROR', String((err as Error)?.message ?? err)));
    }
  }

  private deliver(subject: string, consumer: ConsumerTag, batch: readonly Delivery[]): void {
    for (const part of chunks(batch, messageBytes)) {
      this.transport.publish(subject, encode({ type: 'deliver', consumer, epoch: this.epoch(), entries: part.map((d) => ({ seq: d.seq, id: d.id, headers: d.headers, deliveryCount: d.deliveryCount, body: d.body })) }));
    }
  }

  /** Decodes a frame of the expected type, or refuses it. */
  private accept<T extends 'publish' | 'settle' | 'control'>(m: TransportMessage, type: T) {
    try {
      const f = decode(m.data);
      if (f.type === type) return f as Extract<ReturnType<typeof decode>, { type: T }>;
      this.replier.refuse(m, 'type', `expected a ${type} frame, got ${f.type}`);
    } catch (err) {
      const reason = err instanceof FrameError ? err.reason : 'malformed';
      this.replier.refuse(m, reason, String((err as Error).message));
    }
    return undefined;
  }

}

/**
 * What a remote producer's entry breaks of what publish() checks locally, if anything: a message that
 * fits in the frame that brought it but not in the one that delivers it would fail every delivery.
 */
function invalidEntry(e: PublishEntry, maxPayload: number): string | undefined {
  if (e.id.length === 0 || e.id.length > 256) return 'message id must be 1 to 256 characters';
  return overPayload(e.body.length, e.headers, maxPayload);
}
