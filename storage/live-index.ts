// Where each live message's record lies on disk. Parallel typed arrays in seq order, about 20 bytes a
// message and no object per message, so that an index over a backlog of millions stays small.
import type { Seq } from '../node/ids.ts';

export interface Location {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

const MIN_CAPACITY = 1024;

export class LiveIndex {
  private seqs = new Float64Array(MIN_CAPACITY);
  private segments = new Uint32Array(MIN_CAPACITY);
  private offsets = new Uint32Array(MIN_CAPACITY);
  /** Record lengths; 0 marks a removed entry (no record is empty). */
  private lengths = new Uint32Array(MIN_CAPACITY);
  /** Entries live in [head, tail); removed ones stay in place until the next rebuild. */
  private head = 0;
  private tail = 0;
  private live = 0;

  /** Seqs must increase from one add to the next (the log checks this before it adds). */
  add(seq: Seq, at: Location): void {
    if (this.tail === this.seqs.length) this.rebuild();
    const i = this.tail++;
    this.seqs[i] = seq;
    this.segments[i] = at.segment;
    this.offsets[i] = at.offset;
    this.lengths[i] = at.length;
    this.live++;
  }

  locate(seq: Seq): Location | undefined {
    const i = this.find(seq);
    if (i < 0) return undefined;
    return { segment: this.segments[i]!, offset: this.offsets[i]!, length: this.lengths[i]! };
  }

  segmentOf(seq: Seq): number | undefined {
    const i = this.find(seq);
    return i < 0 ? undefined : this.segments[i];
  }

  /** Forgets a live message; returns the segment its record is in, or undefined if it was not live. */
  remove(seq: Seq): number | undefined {
    const i = this.find(seq);
    if (i < 0) return undefined;
    this.lengths[i] = 0;
    this.live--;
    // Acks mostly come in seq order: skipping the removed prefix keeps searches and rebuilds short.
    while (this.head < this.tail && this.lengths[this.head] === 0) this.head++;
    return this.segments[i];
  }

  private find(seq: Seq): number {
    let lo = this.head;
    let hi = this.tail - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.seqs[mid]!;
      if (s < seq) lo = mid + 1;
      else if (s > seq) hi = mid - 1;
      else return this.lengths[mid] === 0 ? -1 : mid;
    }
    return -1;
  }

  /**
   * When full, moves the live entries to arrays twice their number: growth and shrinking in one place.
   * At least half the new capacity is free afterwards, so each add pays O(1) amortised.
   */
  private rebuild(): void {
    const capacity = Math.max(MIN_CAPACITY, 2 * this.live);
    const seqs = new Float64Array(capacity);
    const segments = new Uint32Array(capacity);
    const offsets = new Uint32Array(capacity);
    const lengths = new Uint32Array(capacity);
    let j = 0;
    for (let i = this.head; i < this.tail; i++) {
      if (this.lengths[i] === 0) continue;
      seqs[j] = this.seqs[i]!;
      segments[j] = this.segments[i]!;
      offsets[j] = this.offsets[i]!;
      lengths[j] = this.lengths[i]!;
      j++;
    }
    this.seqs = seqs;
    this.segments = segments;
    this.offsets = offsets;
    this.lengths = lengths;
    this.head = 0;
    this.tail = j;
  }
}
