// Messages waiting out a delay (publish delayMs, nack delayMs), first due first and, of those due at
// the same time, lowest seq first. Times in one heap, each once, and the seqs due at each time in a
// heap of their own: a burst of delays coming due, or a purge, costs log n a message (a publish batch
// shares one time), where a sorted list shifted from the front cost n.
import FlatQueue from 'flatqueue';
import type { Seq } from '../node/ids.ts';

export class DelayedSet {
  private readonly times = new FlatQueue<number>();
  private readonly due = new Map<number, FlatQueue<Seq>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(seq: Seq, readyAt: number): void {
    let seqs = this.due.get(readyAt);
    if (!seqs) {
      this.due.set(readyAt, (seqs = new FlatQueue<Seq>()));
      this.times.push(readyAt, readyAt);
    }
    seqs.push(seq, seq);
    this.count++;
  }

  /** When the first one is due. */
  nextReadyAt(): number | undefined {
    return this.times.peek();
  }

  /** The next one due by `now`, taken out. */
  takeDue(now: number): Seq | undefined {
    const at = this.times.peek();
    return at !== undefined && at <= now ? this.shift() : undefined;
  }

  /** The head of the delayed line, taken out. */
  shift(): Seq | undefined {
    const at = this.times.peek();
    if (at === undefined) return undefined;
    const seqs = this.due.get(at)!;
    const seq = seqs.pop();
    if (seqs.length === 0) {
      this.due.delete(at);
      this.times.pop();
    }
    this.count--;
    return seq;
  }
}
