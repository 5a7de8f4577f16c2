// The messages waiting for a consumer, in delivery order: higher priority first, then lowest seq.
// Never-delivered messages arrive in seq order and sit in a FIFO; messages that come back (requeued,
// or delayed ones coming due) wait beside it in a heap by seq (a mass requeue costs log n each, not a
// shift of the whole line), so each lane's head is the smaller of two.
import Denque from 'denque';
import FlatQueue from 'flatqueue';
import type { Seq } from '../node/ids.ts';

class Lane {
  readonly fresh = new Denque<Seq>();
  readonly returned = new FlatQueue<Seq>();

  peek(): Seq | undefined {
    const f = this.fresh.peekFront();
    const r = this.returned.peek();
    if (f === undefined) return r;
    if (r === undefined) return f;
    return r < f ? r : f;
  }

  shift(): Seq | undefined {
    const head = this.peek();
    if (head === undefined) return undefined;
    if (head === this.returned.peek()) this.returned.pop();
    else this.fresh.shift();
    return head;
  }

  get size(): number {
    return this.fresh.length + this.returned.length;
  }
}

export class ReadySet {
  /** Lanes by priority, highest first. */
  private lanes: { priority: number; lane: Lane }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** A message that was never delivered; seqs per priority arrive increasing. */
  pushFresh(seq: Seq, priority: number): void {
    this.lane(priority).fresh.push(seq);
    this.count++;
  }

  /** A message coming back (requeue, delay over): goes to its place by seq. */
  pushReturned(seq: Seq, priority: number): void {
    this.lane(priority).returned.push(seq, seq);
    this.count++;
  }

  peek(): Seq | undefined {
    for (const { lane } of this.lanes) {
      const head = lane.peek();
      if (head !== undefined) return head;
    }
    return undefined;
  }

  shift(): Seq | undefined {
    for (const { lane } of this.lanes) {
      const head = lane.shift();
      if (head !== undefined) {
        this.count--;
        return head;
      }
    }
    return undefined;
  }

  /** The head of every lane: where TTL expiry looks, since expiry follows FIFO order per lane. */
  heads(): Seq[] {
    return this.lanes.map(({ lane }) => lane.peek()).filter((s): s is Seq => s !== undefined);
  }

  /** Removes the head of the lane whose head is `seq`. */
  removeHead(seq: Seq): void {
    for (const { lane } of this.lanes) {
      if (lane.peek() === seq) {
        lane.shift();
        this.count--;
        return;
      }
    }
  }

  private lane(priority: number): Lane {
    let entry = this.lanes.find((l) => l.priority === priority);
    if (!entry) {
      entry = { priority, lane: new Lane() };
      this.lanes.push(entry);
      this.lanes.sort((a, b) => b.priority - a.priority);
    }
    return entry.lane;
  }
}
