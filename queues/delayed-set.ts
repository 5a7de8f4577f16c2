// Messages waiting out a delay (publish delayMs, nack delayMs), first due first, in a heap by their
// time: a burst of delayed messages coming due costs log n each, not a shift of the whole list.
import FlatQueue from 'flatqueue';
import type { Seq } from '../node/ids.ts';

export class DelayedSet {
  private readonly heap = new FlatQueue<Seq>();

  get size(): number {
    return this.heap.length;
  }

  add(seq: Seq, readyAt: number): void {
    this.heap.push(seq, readyAt);
  }

  /** When the first one is due. */
  nextReadyAt(): number | undefined {
    return this.heap.peekValue();
  }

  /** The next one due by `now`, taken out. */
  takeDue(now: number): Seq | undefined {
    const at = this.heap.peekValue();
    return at !== undefined && at <= now ? this.heap.pop() : undefined;
  }

  /** The first due, and of those due at the same time the lowest seq, taken out (the head of the delayed line). */
  shift(): Seq | undefined {
    const at = this.heap.peekValue();
    if (at === undefined) return undefined;
    const tied: Seq[] = [];
    while (this.heap.peekValue() === at) tied.push(this.heap.pop()!);
    tied.sort((a, b) => a - b);
    for (const seq of tied.slice(1)) this.heap.push(seq, at);
    return tied[0];
  }
}
