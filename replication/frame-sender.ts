// How a mirrored queue's leader sends replicate frames: a request per frame to one mirror, or, when
// two mirrors stream the same records in the same turn (the usual case: one append, both links up to
// date), one replicate-pair frame that nats-server fans out to both. The leader then writes the
// records to its socket once, and the second mirror's frame does not wait behind the first's.
import type { NodeId, QueueName } from '../node/ids.ts';
import { controlOk } from '../queues/remote-protocol.ts';
import type { ClusterSubjects } from '../transport/cluster-subjects.ts';
import { encode } from '../transport/frame.ts';
import type { ReplyInbox } from '../transport/reply-inbox.ts';
import type { Transport } from '../transport/transport.ts';
import type { SendFrame } from './mirror-link.ts';

type Frame = Parameters<SendFrame>[0];

interface Outgoing {
  readonly node: NodeId;
  readonly frame: Frame;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class FrameSender {
  private outgoing: Outgoing[] = [];

  constructor(
    private readonly transport: Transport,
    private readonly subjects: ClusterSubjects,
    private readonly inbox: ReplyInbox,
    private readonly queue: QueueName,
    private readonly epoch: () => number,
    private readonly timeoutMs: number,
  ) {}

  /** The SendFrame of the link to `node`. */
  to(node: NodeId): SendFrame {
    return (frame) => new Promise<void>((resolve, reject) => {
      this.outgoing.push({ node, frame, resolve, reject });
      // The links of one append are woken together and send in the same turn: gathered here.
      if (this.outgoing.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.outgoing;
    this.outgoing = [];
    // Pairs only between links with one frame each in this turn: a link's frames must reach its mirror
    // in the order they were made, and a pair frame could overtake a single one sent after it.
    const frames = new Map<NodeId, number>();
    for (const o of batch) frames.set(o.node, (frames.get(o.node) ?? 0) + 1);
    const pairable = (o: Outgoing) => !o.frame.reset && frames.get(o.node) === 1;
    const paired = new Set<Outgoing>();
    for (const a of batch) {
      if (paired.has(a)) continue;
      const b = pairable(a) ? batch.find((o) => o !== a && !paired.has(o) && pairable(o) && o.frame.lsn === a.frame.lsn && sameBytes(o.frame.records, a.frame.records)) : undefined;
      if (b) {
        paired.add(a).add(b);
        this.sendPair(a, b);
      } else {
        // Through a promise: whatever fails on the way, synchronously or not, fails this send alone.
        this.settle(a, Promise.resolve().then(() => this.transport.request(this.subjects.replicate(a.node), this.encodeFor(a.frame), { timeoutMs: this.timeoutMs })));
      }
    }
  }

  private sendPair(a: Outgoing, b: Outgoing): void {
    const replies: { readonly subject: string; readonly answer: Promise<Uint8Array> }[] = [];
    try {
      for (let i = 0; i < 2; i++) replies.push(this.inbox.expect(this.timeoutMs));
      this.transport.publish(this.subjects.replicatePair(a.node, b.node), encode({
        type: 'replicate-pair', queue: this.queue, epoch: this.epoch(), lsn: a.frame.lsn, records: a.frame.records,
        to: [a, b].map((o, i) => ({ node: o.node, session: o.frame.session, from: o.frame.from, reply: replies[i]!.subject })),
      }));
    } catch (err) {
      // A frame that cannot go out (over the server's max payload, a closing connection): both links lag.
      for (const r of replies) r.answer.catch(() => {});
      a.reject(err);
      b.reject(err);
      return;
    }
    this.settle(a, replies[0]!.answer);
    this.settle(b, replies[1]!.answer);
  }

  private encodeFor(frame: Frame): Uint8Array {
    return encode({ type: 'replicate', queue: this.queue, epoch: this.epoch(), ...frame });
  }

  /** The mirror's answer settles the link's send: ok, or an error answer or a timeout (the link lags). */
  private settle(o: Outgoing, answer: Promise<Uint8Array>): void {
    answer.then(controlOk).then(() => o.resolve(), (err: unknown) => o.reject(err));
  }
}

/** The same bytes in memory: one append (or the same part of one) that both links are sending. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength);
}
