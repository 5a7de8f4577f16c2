// The producer dedup window: the ids a queue saw lately and the seq each got, so that a retried publish
// is confirmed again rather than enqueued twice. It holds the last `count` ids, none older than `ms`.
// The ids live in an IdRing (typed arrays, nothing for the garbage collector to trace or promote), found
// through an open-addressing index over the ring's slots, with a per-process random hash seed.
import { randomInt } from 'node:crypto';
import type { MessageId, Seq } from '../node/ids.ts';
import { IdRing } from '../storage/id-ring.ts';

const SEED = randomInt(2 ** 31);

export class DedupWindow {
  private readonly ring = new IdRing();
  /** Linear probing; a cell holds a ring slot + 1, 0 is empty. At most half full. */
  private index = new Int32Array(2 * this.ring.capacity);
  /** The id the last get() did not find, and its hash: a publish asks, then remembers the same id. */
  private missedId: MessageId | undefined;
  private missedHash = 0;
  /** Some id was remembered twice (a recovery replays them): a reindex must let the newer win. */
  private twins = false;

  constructor(private readonly count: number, private readonly ms: number) {}

  /** The seq the id got, while it is in the window. */
  get(id: MessageId): Seq | undefined {
    const hash = hashOf(id);
    const cell = this.find(id, hash);
    if (cell !== undefined) return this.ring.seq(this.index[cell]! - 1) as Seq;
    this.missedId = id;
    this.missedHash = hash;
    return undefined;
  }

  remember(id: MessageId, seq: Seq, at: number): void {
    const missed = this.missedId === id;
    this.missedId = undefined;
    const hash = missed ? this.missedHash : hashOf(id);
    // Remembered again (a recovery may replay an id twice): the newer seq is the one found.
    const known = missed ? undefined : this.find(id, hash);
    if (known !== undefined) {
      this.unindex(known);
      this.twins = true;
    }
    const capacity = this.ring.capacity;
    const slot = this.ring.push(id, seq, at, hash);
    if (this.ring.capacity !== capacity) this.reindex();
    else this.insert(slot);
  }

  /** Forgets ids beyond `count` and those older than `ms`, oldest first. */
  evict(now: number): void {
    for (let slot = this.ring.oldest(); slot !== undefined; slot = this.ring.oldest()) {
      if (this.ring.size <= this.count && now - this.ring.at(slot) < this.ms) return;
      const cell = this.cellOf(slot);
      if (cell !== undefined) this.unindex(cell);
      this.ring.shift();
    }
  }

  private get mask(): number {
    return this.index.length - 1;
  }

  private find(id: MessageId, hash: number): number | undefined {
    return this.probe(hash, (slot) => this.ring.hash(slot) === hash && this.ring.idEquals(slot, id));
  }

  /** The cell that points at a ring slot; undefined when the slot is not indexed (its id was remembered again). */
  private cellOf(slot: number): number | undefined {
    return this.probe(this.ring.hash(slot), (s) => s === slot);
  }

  /** The first cell of `hash`'s probe run whose entry `match` accepts; undefined at the run's end. */
  private probe(hash: number, match: (slot: number) => boolean): number | undefined {
    for (let cell = hash & this.mask; ; cell = (cell + 1) & this.mask) {
      const v = this.index[cell]!;
      if (v === 0) return undefined;
      if (match(v - 1)) return cell;
    }
  }

  private insert(slot: number): void {
    let cell = this.ring.hash(slot) & this.mask;
    while (this.index[cell] !== 0) cell = (cell + 1) & this.mask;
    this.index[cell] = slot + 1;
  }

  /** Empties a cell and moves later cells of its probe run back, so that every entry stays reachable. */
  private unindex(cell: number): void {
    let hole = cell;
    for (let next = (hole + 1) & this.mask; this.index[next] !== 0; next = (next + 1) & this.mask) {
      const home = this.ring.hash(this.index[next]! - 1) & this.mask;
      // The entry at `next` may fill the hole only if its home is not cyclically within (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      this.index[hole] = this.index[next]!;
      hole = next;
    }
    this.index[hole] = 0;
  }

  /** The ring grew (its slots moved): a new index, twice its capacity, built oldest first (a newer twin wins). */
  private reindex(): void {
    this.index = new Int32Array(2 * this.ring.capacity);
    for (const slot of this.ring.slots()) {
      const twin = this.twins ? this.twinOf(slot) : undefined;
      if (twin === undefined) this.insert(slot);
      else this.index[twin] = slot + 1;
    }
  }

  /** The cell of an indexed entry with the same id as `slot`'s. */
  private twinOf(slot: number): number | undefined {
    const hash = this.ring.hash(slot);
    return this.probe(hash, (s) => this.ring.hash(s) === hash && this.ring.sameId(s, slot));
  }
}

/** MurmurHash3's 32-bit mixing over UTF-16 units, seeded per process: ids chosen to collide cannot be planned ahead. */
function hashOf(id: string): number {
  let h = SEED;
  for (let i = 0; i < id.length; i++) {
    let k = Math.imul(id.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= id.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
