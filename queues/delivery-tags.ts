// Consumers of a remote queue see delivery tags, not the leader's seqs, as AMQP channels do: a seq
// names a message only within one leader's epoch. After a failover the new leader redelivers under
// seqs that a deposed leader may have used for other messages, so each (epoch, seq) gets a tag of its
// own, and a settlement goes back with the epoch it was delivered in.
import { asSeq, type Seq } from '../node/ids.ts';
import { RecentKeys } from '../node/recent-keys.ts';

/** Tags remembered: far more than any consumer holds at once (prefetch), for late duplicates too. */
const REMEMBERED = 100_000;

export interface Origin {
  readonly epoch: number;
  readonly seq: Seq;
}

export class DeliveryTags {
  private next = 1;
  private readonly byOrigin = new Map<string, Seq>();
  private readonly byTag = new Map<Seq, Origin>();
  private readonly remembered = new RecentKeys<Seq>(REMEMBERED, (tag) => {
    const origin = this.byTag.get(tag)!;
    this.byTag.delete(tag);
    this.byOrigin.delete(`${origin.epoch}:${origin.seq}`);
  });

  /** The same (epoch, seq) gets the same tag while remembered: a duplicate delivery is seen as one. */
  tag(epoch: number, seq: Seq): Seq {
    const key = `${epoch}:${seq}`;
    const known = this.byOrigin.get(key);
    if (known !== undefined) return known;
    const tag = asSeq(this.next++);
    this.byOrigin.set(key, tag);
    this.byTag.set(tag, { epoch, seq });
    this.remembered.add(tag);
    return tag;
  }

  origin(tag: Seq): Origin | undefined {
    return this.byTag.get(tag);
  }
}
