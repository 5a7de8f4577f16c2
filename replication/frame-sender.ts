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
    const paired = new Set<Outgoing>();
    for (const a of batch) {
      if (paired.has(a)) continue;
      const b = a.frame.reset ? undefined : batch.find((o) => o !== a && !paired.has(o) && o.node !== a.node && !o.frame.reset && o.frame.records === a.frame.records);
      if (b) {
        paired.add(a).add(b);
        this.sendPair(a, b);
      } else {
        this.settle([a], this.transport.request(this.subjects.replicate(a.node), this.encodeFor(a.frame), { timeoutMs: this.timeoutMs }));
      }
    }
  }

  private sendPair(a: Outgoing, b: Outgoing): void {
    const [ra, rb] = [this.inbox.expect(this.timeoutMs), this.inbox.expect(this.timeoutMs)];
    const to = [[a, ra], [b, rb]] as const;
    this.transport.publish(this.subjects.replicatePair(a.node, b.node), encode({
      type: 'replicate-pair', queue: this.queue, epoch: this.epoch(), records: a.frame.records,
      to: to.map(([o, r]) => ({ node: o.node, session: o.frame.session, from: o.frame.from, reply: r.subject })),
    }));
    this.settle([a], ra.answer);
    this.settle([b], rb.answer);
  }

  private encodeFor(frame: Frame): Uint8Array {
    return encode({ type: 'replicate', queue: this.queue, epoch: this.epoch(), ...frame });
  }

  /** The mirror's answer settles the link's send: ok, or an error answer or a timeout (the link lags). */
  private settle(outgoing: readonly Outgoing[], answer: Promise<Uint8Array>): void {
    answer.then(controlOk).then(
      () => { for (const o of outgoing) o.resolve(); },
      (err: unknown) => { for (const o of outgoing) o.reject(err); },
    );
  }
}
