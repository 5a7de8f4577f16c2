// Consumers of a remote queue see delivery tags, not the leader's seqs, as AMQP channels do: a seq
// names a message only within one leader's epoch. After a failover the new leader redelivers under
// seqs that a deposed leader may have used for other messages, so each (epoch, seq) gets a tag of its
// own, and a settlement goes back with the epoch it was delivered in.
//
// A tag is arithmetic, not a table entry: an epoch's tags are its seqs shifted above every tag issued
// before it started. The same (epoch, seq) always gets the same tag (a duplicate delivery is seen as
// one), and tagging costs no memory per message.
import { asSeq, type Seq } from '../node/ids.ts';

/** Epochs remembered: a settlement for an older one is stale at any leader, so its tags may be forgotten. */
const REMEMBERED_EPOCHS = 16;

export interface Origin {
  readonly epoch: number;
  readonly seq: Seq;
}

interface EpochRange {
  readonly epoch: number;
  /** Its tags are base + seq. */
  readonly base: number;
  /** The highest tag issued in it: once a newer epoch starts, its range is closed here. */
  top: number;
}

export class DeliveryTags {
  /** Oldest first. */
  private readonly epochs: EpochRange[] = [];

  /** `epoch` is the newest seen so far (deliveries of older ones are dropped before they are tagged); seqs start at 1. */
  tag(epoch: number, seq: Seq): Seq {
    let current = this.epochs.at(-1);
    if (current === undefined || epoch > current.epoch) {
      const base = current?.top ?? 0;
      current = { epoch, base, top: base };
      this.epochs.push(current);
      if (this.epochs.length > REMEMBERED_EPOCHS) this.epochs.shift();
    } else if (epoch < current.epoch) {
      throw new RangeError(`epoch ${epoch} is older than ${current.epoch}`);
    }
    const tag = current.base + seq;
    if (tag > current.top) current.top = tag;
    return asSeq(tag);
  }

  /**
   * undefined for a tag above every one issued, or of an epoch long gone. A tag within an epoch's range
   * names that epoch's seq, issued or not: a leader counts a settlement of a seq the consumer does not
   * hold as stale, and the consumer settles only what it was delivered.
   */
  origin(tag: Seq): Origin | undefined {
    for (let i = this.epochs.length - 1; i >= 0; i--) {
      const e = this.epochs[i]!;
      if (tag > e.base) return tag <= e.top ? { epoch: e.epoch, seq: asSeq(tag - e.base) } : undefined;
    }
    return undefined;
  }
}
