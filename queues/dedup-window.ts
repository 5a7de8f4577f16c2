// The producer dedup window: the ids a queue saw lately and the seq each got, so that a retried publish
// is confirmed again rather than enqueued twice. It holds the last `count` ids, none older than `ms`.
// Ids wait for eviction in a FIFO of plain arrays, not an object per id (a sixth less garbage-collector
// time in a benchmark of the queue machine at the default 100,000 ids).
import type { MessageId, Seq } from '../node/ids.ts';

/** Evicted slots are cut off the front of the arrays once they are this many and half of them. */
const COMPACT_AT = 4_096;

export class DedupWindow {
  private readonly seqs = new Map<MessageId, Seq>();
  private ids: MessageId[] = [];
  private order: Seq[] = [];
  private ats: number[] = [];
  private head = 0;

  constructor(private readonly count: number, private readonly ms: number) {}

  /** The seq the id got, while it is in the window. */
  get(id: MessageId): Seq | undefined {
    return this.seqs.get(id);
  }

  remember(id: MessageId, seq: Seq, at: number): void {
    this.seqs.set(id, seq);
    this.ids.push(id);
    this.order.push(seq);
    this.ats.push(at);
  }

  /** Forgets ids beyond `count` and those older than `ms`, oldest first. */
  evict(now: number): void {
    while (this.head < this.ids.length && (this.ids.length - this.head > this.count || now - this.ats[this.head]! >= this.ms)) {
      const id = this.ids[this.head]!;
      // An id remembered again later keeps its newer seq.
      if (this.seqs.get(id) === this.order[this.head]) this.seqs.delete(id);
      this.head++;
    }
    if (this.head >= COMPACT_AT && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.order = this.order.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
  }
}
