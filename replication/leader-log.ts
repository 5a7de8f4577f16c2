// The log of a mirrored queue's leader: the queue actor appends to it as to any log, and an append
// resolves (so the publishes it carries are confirmed) only when the gate says so: written here, held
// by enough in-sync mirrors, and the lease still valid. Each append gets a log sequence number (lsn)
// that the mirror links ship and acknowledge. It also keeps a compact replay of the live state, so
// that a mirror that must start over gets a snapshot (live messages and the dedup window's ids) instead
// of the whole history, and where its recent appends sit in the local log, so that a mirror that fell
// behind gets just the appends it missed, read back as they were shipped.
import { DiskFailure } from '../node/errors.ts';
import type { MessageId, Seq } from '../node/ids.ts';
import Denque from 'denque';
import { frameRecords, scanFramed } from '../storage/record-codec.ts';
import { Replayer } from '../storage/replay.ts';
import type { AppendOptions, Framed, LogPlace, LogRecord, QueueLog, RecoveredMessage, RecoveredQueue, StoredMessage } from '../storage/storage.ts';

/** true: confirm; false: not yet; an Error: never (deposed, or too long without enough mirrors). */
export type Gate = (lsn: number, waitingSince: number) => boolean | Error;

/** The live state at one lsn: what a catching-up mirror must hold before it takes the stream after. */
type RecentId = { readonly id: MessageId; readonly seq: Seq; readonly at: number };

export interface Snapshot {
  readonly lsn: number;
  readonly live: readonly RecoveredMessage[];
  /** Ids in the dedup window of messages removed before the snapshot. */
  readonly recent: readonly RecentId[];
  /** Ids in the dedup window of the live messages: for one removed while the snapshot is read. */
  readonly liveIds: ReadonlyMap<Seq, RecentId>;
}

interface Waiter {
  readonly lsn: number;
  readonly since: number;
  local: boolean;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/** An append as shipped to the mirrors: its lsn and its records, framed. */
export interface Shipped {
  readonly lsn: number;
  readonly framed: Framed;
}

/** Where an append sits in the local log, as written. */
interface Placed {
  readonly lsn: number;
  readonly place: LogPlace;
  readonly length: number;
}

/** Appends whose place is remembered, at most (the oldest go first): a few MB. */
const MAX_PLACES = 65_536;
/** Bytes read back from the log at a time for a mirror that catches up. */
const CATCH_UP_READ_BYTES = 4 * 1024 * 1024;
/** Live messages read at a time for a snapshot, at most; fewer where bodies are large (SNAPSHOT_BYTES). */
const SNAPSHOT_CHUNK = 256;
/** The bodies a snapshot holds in memory at a time, about: 256 messages of 1 MB would be 256 MB. */
const SNAPSHOT_BYTES = 4 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

export class LeaderLog implements QueueLog {
  lsn: number;
  /** The highest lsn confirmed. */
  committed: number;
  private readonly replayer = new Replayer();
  private readonly waiting: Waiter[] = [];
  /**
   * Settles with recover(). A mirror's snapshot waits for it: taken before, it would hold nothing of
   * the backlog, and the mirror would join inSync without it.
   */
  readonly recovered: Promise<void>;
  private settleRecovery!: (err?: unknown) => void;
  /** Set once this log can commit nothing more (deposed, stopping, restarted): nothing more is delivered either. */
  private refusal: Error | undefined;
  /**
   * The recovery dropped nothing (set by recover()): the log holds what it held as a mirror, so a mirror
   * that holds as much of the same stream may follow it without a snapshot.
   */
  whole = false;
  /** The last append that held a message. */
  private enqueuedLsn = 0;
  /** Deliveries waiting for the messages appended before them to be committed (messagesCommitted). */
  private readonly commitWaiters: { readonly lsn: number; readonly resolve: () => void; readonly reject: (e: Error) => void }[] = [];
  /** The local write of the last append: those before it are written when it is (the log's group commit keeps order). */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Where this log's appends were written, in lsn order (a log that stores frames says: onPlaced). */
  private readonly places = new Denque<Placed>();

  constructor(
    private readonly inner: QueueLog,
    private readonly gate: Gate,
    /** Every append, as it happens, framed as the logs store it: the links ship these bytes. */
    private readonly ship: (lsn: number, framed: Framed) => void,
    /** The local disk failed: this node can store nothing more. */
    private readonly failed: (error: DiskFailure) => void,
    /** Where the leader's previous log (before the queue actor restarted) ended: lsns go on from there. */
    from: { readonly lsn: number; readonly committed: number } = { lsn: 0, committed: 0 },
  ) {
    this.lsn = from.lsn;
    this.committed = from.committed;
    // What the previous log appended may hold messages not committed yet, which the recovery brings
    // back: deliveries wait for all of it.
    this.enqueuedLsn = from.lsn;
    this.recovered = new Promise((resolve, reject) => {
      this.settleRecovery = (err) => (err === undefined ? resolve() : reject(err));
    });
    this.recovered.catch(() => {}); // a failed recovery is the queue actor's to handle; links only wait
  }

  async recover(): Promise<RecoveredQueue> {
    try {
      const recovered = await this.inner.recover();
      this.whole = recovered.report.droppedRecords === 0 && recovered.report.droppedBytes === 0;
      seed(this.replayer, recovered);
      this.settleRecovery();
      // The last leader (this node, before a restart, or another) may have delivered any of them.
      return { ...recovered, uncertainBelow: recovered.nextSeq };
    } catch (err) {
      this.settleRecovery(err);
      throw err;
    }
  }

  /** Resolves once every append made so far is written here: a snapshot reads its messages from the local log. */
  written(): Promise<void> {
    return this.lastWrite;
  }

  async append(records: readonly LogRecord[], options?: AppendOptions): Promise<void> {
    // Framed once, for the local log and every mirror (first: a record that cannot be framed fails alone).
    const framed = frameRecords(records);
    const lsn = ++this.lsn;
    for (const r of records) {
      this.replayer.apply(r);
      if (r.type === 'enqueue') this.enqueuedLsn = lsn;
    }
    this.ship(lsn, framed);
    return new Promise((resolve, reject) => {
      const w: Waiter = { lsn, since: Date.now(), local: false, resolve, reject };
      this.waiting.push(w);
      const write = this.inner.append(records, { ...options, framed, onPlaced: (place) => this.placed({ lsn, place, length: framed.bytes.length }) });
      this.lastWrite = write;
      write.then(() => { w.local = true; this.check(); }, (err: unknown) => {
        // A misused log (a bug) fails that append alone; a failed disk, every append from now on (the
        // leader steps down first, so that nothing counts this node as holding what it did not write).
        if (err instanceof DiskFailure) this.failed(err);
        this.fail(w, err);
      });
    });
  }

  /**
   * Resolves once every message appended so far is committed (not the settlements after them). An
   * append that the gate refused for want of a quorum is committed by the next commit after it (the
   * mirrors hold appends in order, or a snapshot of the live state), so this rejects only when this
   * leader can commit nothing more.
   */
  messagesCommitted(): Promise<void> {
    const lsn = this.enqueuedLsn;
    if (this.refusal) return Promise.reject(this.refusal);
    if (this.committed >= lsn) return Promise.resolve();
    return new Promise((resolve, reject) => { this.commitWaiters.push({ lsn, resolve, reject }); });
  }

  /** Settles the appends the gate now lets through (or refuses); called when anything it reads changed. */
  check(): void {
    for (let w = this.waiting[0]; w?.local; w = this.waiting[0]) {
      const verdict = this.gate(w.lsn, w.since);
      if (verdict === false) break;
      this.waiting.shift();
      if (verdict === true) {
        this.committed = w.lsn;
        w.resolve();
      } else {
        w.reject(verdict);
      }
    }
    for (let c = this.commitWaiters[0]; c; c = this.commitWaiters[0]) {
      if (c.lsn > this.committed) {
        // Its appends still wait, or were refused: then the gate, asked now, says whether they are held.
        if ((this.waiting[0]?.lsn ?? Number.POSITIVE_INFINITY) <= c.lsn) break;
        const verdict = this.gate(c.lsn, Date.now());
        if (verdict === false) break;
        if (verdict instanceof Error) return this.refuseAll(verdict);
        this.committed = c.lsn;
      }
      this.commitWaiters.shift();
      c.resolve();
    }
  }

  /** Refuses everything waiting: the leader was deposed. */
  refuseAll(error: Error): void {
    this.refusal ??= error;
    for (const w of this.waiting.splice(0)) w.reject(error);
    for (const c of this.commitWaiters.splice(0)) c.reject(error);
  }

  read(seqs: readonly Seq[]): Promise<StoredMessage[]> {
    return this.inner.read(seqs);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  /**
   * The appends after `after` up to `through` (both lsns of this log, `through` written), read back
   * from the local log as they were shipped, a few MiB at a time: what a mirror that fell behind the
   * stream missed. undefined when the log cannot give them all: `after` is not one of this log's
   * appends (the mirror's place is from before this log opened), or they are no longer remembered.
   */
  catchUp(after: number, through: number): AsyncIterable<Shipped[]> | undefined {
    const first = this.places.peekFront();
    const read = this.inner.readPlaced?.bind(this.inner);
    if (!read || !first || after < first.lsn || through < after) return undefined;
    const wanted: Placed[] = [];
    for (let lsn = after; lsn <= through; lsn++) {
      const p = this.places.peekAt(lsn - first.lsn);
      if (p?.lsn !== lsn) return undefined;
      if (lsn > after) wanted.push(p);
    }
    return this.readBack(wanted, read);
  }

  snapshot(): Snapshot {
    const state = this.replayer.result({ droppedRecords: 0, droppedBytes: 0, problems: [] });
    const live = [...state.messages];
    const liveSeqs = new Set(live.map((m) => m.seq));
    const ids = state.recentIds.filter((r) => r.id !== '');
    return { lsn: this.lsn, live, recent: ids.filter((r) => !liveSeqs.has(r.seq)), liveIds: new Map(ids.filter((r) => liveSeqs.has(r.seq)).map((r) => [r.seq, r])) };
  }

  /**
   * The snapshot as log records in seq order: each live message whole, with its deliveries; each
   * recent id of a removed message as an empty enqueue and its removal (the mirror's dedup window).
   */
  async *records(snap: Snapshot): AsyncGenerator<LogRecord[]> {
    type Item = { live: RecoveredMessage } | { gone: Snapshot['recent'][number] };
    const items: Item[] = [...snap.live.map((live) => ({ live })), ...snap.recent.map((gone) => ({ gone }))];
    const seqOf = (i: Item) => ('live' in i ? i.live.seq : i.gone.seq);
    items.sort((a, b) => seqOf(a) - seqOf(b));
    // Sizes are known once read: the next chunk is sized after the bodies of the last, starting small.
    let size = 16;
    for (let at = 0; at < items.length;) {
      const chunk = items.slice(at, at + size);
      at += chunk.length;
      const stored = await this.readLive(chunk.flatMap((i) => ('live' in i ? [i.live.seq] : [])));
      let bytes = 0;
      for (const m of stored.values()) bytes += m.body.length;
      size = Math.max(1, Math.min(SNAPSHOT_CHUNK, bytes > 0 ? Math.floor((chunk.length * SNAPSHOT_BYTES) / bytes) : SNAPSHOT_CHUNK));
      const out: LogRecord[] = [];
      for (const i of chunk) {
        if ('gone' in i) {
          const meta = { seq: i.gone.seq, id: i.gone.id, headers: {}, priority: 0, enqueuedAt: i.gone.at, size: 0 };
          out.push({ type: 'enqueue', meta, body: EMPTY }, { type: 'remove', seqs: [i.gone.seq], reason: 'ack' });
          continue;
        }
        const m = stored.get(i.live.seq);
        if (!m) {
          // Removed since the snapshot was taken: its removal follows in the stream. Its id goes (an
          // empty enqueue, for the removal to remove), or the mirror's dedup window would miss it.
          const known = snap.liveIds.get(i.live.seq);
          if (known) out.push({ type: 'enqueue', meta: { seq: known.seq, id: known.id, headers: {}, priority: 0, enqueuedAt: known.at, size: 0 }, body: EMPTY });
          continue;
        }
        out.push({ type: 'enqueue', meta: m.meta, body: m.body });
        for (let n = 0; n < i.live.deliveryCount; n++) out.push({ type: 'delivered', seqs: [m.meta.seq] });
      }
      yield out;
    }
  }

  /**
   * Reads what is still live; a message removed meanwhile is skipped. One still live that cannot be
   * read fails the snapshot (the link starts over): skipped, the mirror would join inSync without it.
   */
  private async readLive(seqs: readonly Seq[]): Promise<Map<Seq, StoredMessage>> {
    const out = new Map<Seq, StoredMessage>();
    const all = await this.inner.read(seqs).catch(() => undefined);
    if (all) {
      for (const m of all) out.set(m.meta.seq, m);
      return out;
    }
    for (const seq of seqs) {
      // Removed from the live state at append, from the log's index once written: never the other way round.
      if (!this.replayer.isLive(seq)) continue;
      const [m] = await this.inner.read([seq]);
      out.set(seq, m!);
    }
    return out;
  }

  private placed(p: Placed): void {
    this.places.push(p);
    if (this.places.length > MAX_PLACES) this.places.shift();
  }

  /** Neighbours in one segment come in one read; bytes that are gone, or damaged, end it with an error. */
  private async *readBack(wanted: readonly Placed[], read: NonNullable<QueueLog['readPlaced']>): AsyncGenerator<Shipped[]> {
    for (let i = 0; i < wanted.length;) {
      const first = wanted[i]!;
      let end = first.place.offset + first.length;
      let j = i + 1;
      for (let next = wanted[j]; next && next.place.segment === first.place.segment && next.place.offset === end && end - first.place.offset < CATCH_UP_READ_BYTES; next = wanted[++j]) {
        end += next.length;
      }
      const bytes = await read(first.place, end - first.place.offset);
      if (!bytes) {
        // Compacted away: what was written before is gone too, and is forgotten.
        while ((this.places.peekFront()?.place.segment ?? Number.POSITIVE_INFINITY) <= first.place.segment) this.places.shift();
        throw new Error(`the local log no longer holds append ${first.lsn}`);
      }
      const out: Shipped[] = [];
      let offset = 0;
      for (const p of wanted.slice(i, j)) {
        const scanned = scanFramed(bytes.subarray(offset, offset + p.length));
        if ('damage' in scanned) throw new Error(`append ${p.lsn} is damaged in the local log: ${scanned.damage}`);
        out.push({ lsn: p.lsn, framed: scanned.framed });
        offset += p.length;
      }
      yield out;
      i = j;
    }
  }

  private fail(w: Waiter, err: unknown): void {
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
    w.reject(err instanceof Error ? err : new Error(String(err)));
    this.check();
  }
}

/** Feeds a replayer with what a recovery found, in seq order, as records with just what it reads. */
function seed(replayer: Replayer, recovered: RecoveredQueue): void {
  const recent = new Map(recovered.recentIds.map((r) => [r.seq, r]));
  const live = new Map<Seq, RecoveredMessage>();
  for (const m of recovered.messages) live.set(m.seq, m);
  const seqs = [...new Set([...live.keys(), ...recent.keys()])].sort((a, b) => a - b);
  for (const seq of seqs) {
    const m = live.get(seq);
    const r = recent.get(seq);
    const meta = { seq, id: r?.id ?? ('' as MessageId), headers: {}, priority: m?.priority ?? 0, enqueuedAt: r?.at ?? 0, size: 0, ...(m?.expiresAt !== undefined ? { expiresAt: m.expiresAt } : {}), ...(m?.readyAt !== undefined ? { readyAt: m.readyAt } : {}) };
    replayer.apply({ type: 'enqueue', meta, body: EMPTY });
    if (!m) replayer.apply({ type: 'remove', seqs: [seq], reason: 'ack' });
    else for (let n = 0; n < m.deliveryCount; n++) replayer.apply({ type: 'delivered', seqs: [seq] });
  }
}
