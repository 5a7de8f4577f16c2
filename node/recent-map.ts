// The last N keys set, with their values, for "have I seen this lately?" in bounded memory. A ring of
// insertion order evicts the oldest: evicting through the Map's own iterator (keys().next() after
// deletes) walks over V8's tombstones of the deleted entries, which made a consumer's ack path quadratic.
export class RecentMap<K, V> {
  private readonly ring: (K | undefined)[];
  private next = 0;
  private readonly map = new Map<K, V>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a RecentMap holds at least one key, not ${capacity}`);
    this.ring = new Array<K | undefined>(capacity);
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** A key set again takes the new value and keeps its place in line. One hash lookup for that check: this is on every ack. */
  set(key: K, value: V): void {
    const size = this.map.size;
    this.map.set(key, value);
    if (this.map.size === size) return;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.map.delete(oldest);
    this.ring[this.next] = key;
    this.next = this.next + 1 === this.ring.length ? 0 : this.next + 1;
  }
}
