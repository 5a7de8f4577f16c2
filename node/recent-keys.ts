// The last N keys seen, for "have I seen this lately?" with a bounded memory. A ring of insertion
// order evicts the oldest: evicting through a Set's own iterator (values().next() after deletes) walks
// over V8's tombstones of the deleted entries, which made a consumer's ack path quadratic.
export class RecentKeys<K> {
  private readonly ring: (K | undefined)[];
  private next = 0;
  private readonly keys = new Set<K>();

  constructor(capacity: number, private readonly evicted: (key: K) => void = () => {}) {
    this.ring = new Array<K | undefined>(capacity);
  }

  has(key: K): boolean {
    return this.keys.has(key);
  }

  add(key: K): void {
    if (this.keys.has(key)) return;
    const old = this.ring[this.next];
    if (old !== undefined) {
      this.keys.delete(old);
      this.evicted(old);
    }
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.ring.length;
    this.keys.add(key);
  }
}
