// Recent message ids, oldest first, in flat typed arrays: (id, seq, at) per entry, and the ids side by
// side in one byte buffer (a byte a character when all are below 256, as in UUIDs; two otherwise). A
// window of 100,000 ids kept as strings and objects held every publish's id through young-generation
// collections until it was promoted: about 1.2 µs a message in the garbage collector (measured).

export interface RecentId<I extends string = string> {
  readonly id: I;
  readonly seq: number;
  readonly at: number;
}

/** Small: an idle queue keeps one ring, and there may be many idle queues. Growth doubles. */
const FIRST_CAPACITY = 16;
const MIN_BYTES = 512;

export class IdRing {
  /** Entries live at (n & mask) for head <= n < tail; capacity is a power of two. */
  private mask = FIRST_CAPACITY - 1;
  private head = 0;
  private tail = 0;
  private seqs = new Float64Array(FIRST_CAPACITY);
  private ats = new Float64Array(FIRST_CAPACITY);
  private hashes = new Int32Array(FIRST_CAPACITY);
  private starts = new Int32Array(FIRST_CAPACITY);
  /** The id's length in characters; negative when stored two bytes a character. */
  private lengths = new Int32Array(FIRST_CAPACITY);
  /** The ids' bytes: the live ones are one run, from the oldest entry's start to `end`. */
  private bytes = new Uint8Array(MIN_BYTES);
  private end = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** The slots entries may take: slot = entry & (capacity - 1). Grows as entries are pushed. */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Adds an entry after the newest; returns its slot. `hash` is kept for the caller (see DedupWindow). */
  push(id: string, seq: number, at: number, hash = 0): number {
    if (this.size === this.capacity) this.grow();
    const narrow = isNarrow(id);
    const n = narrow ? id.length : 2 * id.length;
    this.reserve(n);
    const slot = this.tail & this.mask;
    const b = this.bytes;
    const start = this.end;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      if (narrow) {
        b[start + i] = c;
      } else {
        b[start + 2 * i] = c & 0xff;
        b[start + 2 * i + 1] = c >>> 8;
      }
    }
    this.starts[slot] = start;
    this.lengths[slot] = narrow ? id.length : -id.length;
    this.end += n;
    this.seqs[slot] = seq;
    this.ats[slot] = at;
    this.hashes[slot] = hash;
    this.tail++;
    return slot;
  }

  /** Drops the oldest entry. */
  shift(): void {
    if (this.size > 0) this.head++;
    if (this.size === 0) this.end = 0;
  }

  /** The oldest entry's slot; undefined when empty. */
  oldest(): number | undefined {
    return this.size > 0 ? this.head & this.mask : undefined;
  }

  seq(slot: number): number {
    return this.seqs[slot]!;
  }

  at(slot: number): number {
    return this.ats[slot]!;
  }

  hash(slot: number): number {
    return this.hashes[slot]!;
  }

  idEquals(slot: number, id: string): boolean {
    const length = this.lengths[slot]!;
    if (Math.abs(length) !== id.length) return false;
    for (let i = 0; i < id.length; i++) if (this.charAt(slot, i) !== id.charCodeAt(i)) return false;
    return true;
  }

  sameId(a: number, b: number): boolean {
    const length = Math.abs(this.lengths[a]!);
    if (length !== Math.abs(this.lengths[b]!)) return false;
    for (let i = 0; i < length; i++) if (this.charAt(a, i) !== this.charAt(b, i)) return false;
    return true;
  }

  private charAt(slot: number, i: number): number {
    const start = this.starts[slot]!;
    return this.lengths[slot]! >= 0 ? this.bytes[start + i]! : this.bytes[start + 2 * i]! | (this.bytes[start + 2 * i + 1]! << 8);
  }

  /** The live entries' slots, oldest first. */
  *slots(): Generator<number> {
    for (let n = this.head; n < this.tail; n++) yield n & this.mask;
  }

  /** Oldest first; strings are made here, for the rare reader (a recovery, a snapshot). */
  *entries<I extends string>(): Generator<RecentId<I>> {
    for (let n = this.head; n < this.tail; n++) {
      const slot = n & this.mask;
      const units = Array.from({ length: Math.abs(this.lengths[slot]!) }, (_, i) => this.charAt(slot, i));
      yield { id: String.fromCharCode(...units) as I, seq: this.seqs[slot]!, at: this.ats[slot]! };
    }
  }

  /**
   * Room for `n` more bytes after `end`: the live run moves to the front, into a buffer twice its size
   * if it fills three quarters of this one or less than an eighth (the buffer follows the window).
   */
  private reserve(n: number): void {
    if (this.end + n <= this.bytes.length) return;
    const from = this.size > 0 ? this.starts[this.head & this.mask]! : this.end;
    const live = this.end - from;
    const need = live + n;
    const resize = need > (3 * this.bytes.length) / 4 || (need < this.bytes.length / 8 && this.bytes.length > MIN_BYTES);
    const bytes = resize ? new Uint8Array(Math.max(MIN_BYTES, 2 * need)) : this.bytes;
    if (bytes === this.bytes) bytes.copyWithin(0, from, this.end);
    else bytes.set(this.bytes.subarray(from, this.end));
    this.bytes = bytes;
    for (let e = this.head; e < this.tail; e++) {
      const slot = e & this.mask;
      this.starts[slot] = this.starts[slot]! - from;
    }
    this.end = live;
  }

  private grow(): void {
    const mask = 2 * this.capacity - 1;
    // In runs (two at most: the new array wraps only where the old one does), copied whole: it happens under load, all at once.
    const moved = <A extends Float64Array | Int32Array>(from: A, to: A): A => {
      for (let e = this.head, n = 0; e < this.tail; e += n) {
        const [was, is] = [e & this.mask, e & mask];
        n = Math.min(this.tail - e, this.mask + 1 - was, mask + 1 - is);
        to.set(from.subarray(was, was + n), is);
      }
      return to;
    };
    this.seqs = moved(this.seqs, new Float64Array(mask + 1));
    this.ats = moved(this.ats, new Float64Array(mask + 1));
    this.hashes = moved(this.hashes, new Int32Array(mask + 1));
    this.starts = moved(this.starts, new Int32Array(mask + 1));
    this.lengths = moved(this.lengths, new Int32Array(mask + 1));
    this.mask = mask;
  }
}

function isNarrow(id: string): boolean {
  for (let i = 0; i < id.length; i++) if (id.charCodeAt(i) > 0xff) return false;
  return true;
}
