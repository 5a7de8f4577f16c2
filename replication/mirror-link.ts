// The leader's line to one mirror: ships every append in order, a few frames in flight (what piles up
// meanwhile goes in the next frame, so a slow mirror gets fewer, larger frames; the mirror's group
// commit syncs frames that arrive together at once; an append or a snapshot chunk larger than a frame
// is split between records, so that every frame fits NATS's max payload), and counts what the mirror
// has acknowledged (written and fdatasync'd; answers come in frame order). A mirror that fails a frame,
// or does not answer, is lagging: it counts for no confirm, it leaves inSync, and the link starts over
// with a new session: a snapshot of the live state, then the stream from the snapshot's lsn on. The
// queue keeps serving meanwhile. Two kinds of session skip the snapshot: a new leader's first, when the
// mirror holds exactly where the new leader stood in the old leader's stream; and one with a mirror
// that fell behind this leader's stream, which gets the appends it missed read back from the local
// log, while that still holds them.
import { randomUUID } from 'node:crypto';
import type { NodeId, QueueName } from '../node/ids.ts';
import { FRAME_BATCH_BYTES } from '../node/limits.ts';
import { frameRecords } from '../storage/record-codec.ts';
import type { Framed } from '../storage/storage.ts';
import { backoffDelay } from '../supervision/backoff.ts';
import type { LeaderLog, Shipped } from './leader-log.ts';
import type { Position, StreamPosition } from './quorum.ts';

/** Requests to the mirror besides the frames (ReplicaServer.position and resume). */
export interface MirrorRequests {
  /** What it holds; undefined without an answer. Rejects on an error answer (its copy cannot be read: a snapshot starts it over). */
  position(): Promise<Position | undefined>;
  /** Asks it to follow `session` from `from`: true if it holds exactly that much, and follows. */
  resume(session: string, from: StreamPosition): Promise<boolean>;
}

/** Sends one replicate frame and resolves with the mirror's answer; rejects on an error answer or a timeout. */
export type SendFrame = (frame: { readonly session: string; readonly from: number; readonly reset: boolean; readonly lsn: number; readonly records: Uint8Array }) => Promise<void>;

export interface LinkEvents {
  /** The mirror acknowledged more: confirms may go through. */
  acked(): void;
  /** The mirror failed or went silent: it must leave inSync. */
  lagging(node: NodeId): void;
  /** Resolves once the mirror is out of inSync (rejects if that cannot be made sure): its copy is about to be emptied. */
  leaving(node: NodeId): Promise<void>;
  /** The mirror holds everything appended so far: it may join inSync. */
  caughtUp(node: NodeId): void;
}

const EMPTY = new Uint8Array(0);
/** Frames sent and not yet acknowledged, at most. */
const PIPELINE = 4;
const RETRY = { minMs: 100, maxMs: 2_000, jitter: 0.3 };

export type LinkState = 'syncing' | 'streaming' | 'lagging';

export class MirrorLink {
  state: LinkState = 'syncing';
  /** The highest lsn the mirror holds durably (lsns go on across the leader's log restarts). */
  acked = 0;
  /** Snapshots begun (the mirror emptied its copy for them): each one a copy of the whole live state. */
  snapshots = 0;
  /** Appends not sent yet (or the rest of one sent in part), framed as the logs store them. */
  private outbox: Shipped[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private failures = 0;
  /** Raised by resync(): a round of an older generation must not count its acks. */
  private generation = 0;
  private session = '';
  private next = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** A frame in flight failed: the run loop turns it into 'lagging'. */
  private failed: unknown;

  constructor(
    readonly node: NodeId,
    readonly queue: QueueName,
    private readonly log: () => LeaderLog,
    private readonly send: SendFrame,
    private readonly events: LinkEvents,
    /** The leader's epoch: the stream a mirror's place is in. */
    private readonly epoch: () => number,
    private readonly requests?: MirrorRequests,
    /** A new leader's place in the old leader's stream, where it took over: tried once, before the first snapshot. */
    private held?: StreamPosition,
  ) {}

  start(): void {
    void this.run();
  }

  push(lsn: number, framed: Framed): void {
    if (this.state === 'lagging') return;
    this.outbox.push({ lsn, framed });
    this.wake?.();
  }

  /**
   * Starts over with a snapshot (the queue actor restarted: its log may differ from what was
   * streamed). What the mirror acknowledged stays counted until it leaves inSync.
   */
  resync(): void {
    this.held = undefined;
    this.generation++;
    this.state = 'syncing';
    this.outbox = [];
    this.wake?.();
  }

  /** The mirror is known to be gone (its node is down): it lags now, without waiting for a frame to time out. */
  fail(reason: Error): void {
    if (this.state === 'lagging') return;
    this.failed = reason;
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.failed !== undefined) throw this.failed;
        if (this.state === 'syncing') await this.sync();
        else if (this.state === 'lagging') await this.pause(backoffDelay(this.failures, RETRY)).then(() => { if (this.state === 'lagging') this.state = 'syncing'; });
        else if (this.outbox.length === 0) await this.idle();
        else await this.stream();
      } catch {
        if (this.closed) return;
        this.failed = undefined;
        this.generation++;
        this.failures++;
        this.state = 'lagging';
        this.outbox = [];
        this.events.lagging(this.node);
      }
    }
  }

  private async sync(): Promise<void> {
    const gen = this.generation;
    const holds = (await this.resumed()) ?? (await this.caughtUp());
    if (holds !== undefined) {
      if (gen !== this.generation || this.state !== 'syncing') return;
      this.state = 'streaming';
      this.failures = 0;
      this.acked = holds;
      this.progress();
      return;
    }
    // The reset empties the mirror's copy: first out of inSync, then it holds nothing.
    await this.events.leaving(this.node);
    this.acked = 0;
    const log = this.log();
    await log.recovered;
    const snap = log.snapshot();
    // The snapshot's messages are read from the leader's log: all of them must be written there first.
    const written = log.written();
    this.outbox = this.outbox.filter((e) => e.lsn > snap.lsn);
    await Promise.allSettled(this.inFlight);
    this.session = randomUUID();
    this.next = 0;
    await this.frame(true, EMPTY, 0);
    this.snapshots++;
    await written;
    for await (const records of log.records(snap)) {
      const framed = frameRecords(records);
      for (let at = 0, from = 0; from < framed.lengths.length;) {
        const { count, bytes } = fitting(framed.lengths, from);
        await this.frame(false, framed.bytes.subarray(at, at + bytes), 0);
        from += count;
        at += bytes;
      }
    }
    // The snapshot is whole: the mirror holds the state at its lsn.
    await this.frame(false, EMPTY, snap.lsn);
    if (gen !== this.generation || this.state !== 'syncing') return;
    this.state = 'streaming';
    this.failures = 0;
    this.acked = snap.lsn;
    this.progress();
  }

  /**
   * A new leader's first session: the mirror follows on from what it holds, if that is what the log
   * recovered. Resolves with the lsn it then holds (0: the state the log recovered).
   */
  private async resumed(): Promise<number | undefined> {
    const held = this.held;
    this.held = undefined;
    if (!held || !this.requests) return undefined;
    const log = this.log();
    await log.recovered;
    if (!log.whole) return undefined;
    return (await this.follow(held)) ? 0 : undefined;
  }

  /**
   * A mirror that fell behind this leader's stream (it went silent, or failed a frame) and holds a
   * place in it: it gets the appends it missed from the local log, while that holds them, instead of
   * a snapshot. Resolves with the lsn it then holds. One that does not answer gets no snapshot either
   * (this round fails): its reset, read once it wakes up, would empty a copy that could have caught up.
   */
  private async caughtUp(): Promise<number | undefined> {
    if (!this.requests) return undefined;
    // Frames still in flight may yet land: the mirror's place is asked after them.
    await Promise.allSettled(this.inFlight);
    const position = await this.requests.position().catch(() => null);
    if (position === undefined) throw new Error(`mirror ${this.node} does not answer`);
    const held = position?.stream;
    if (held?.epoch !== this.epoch()) return undefined;
    const log = this.log();
    const through = log.lsn;
    await log.written();
    const missed = log.catchUp(held.lsn, through);
    if (!missed || !(await this.follow(held))) return undefined;
    // Those after `through` are in the outbox: pushed since this sync began.
    this.outbox = this.outbox.filter((e) => e.lsn > through);
    for await (const appends of missed) {
      while (appends.length > 0) {
        const frame = takeFrame(appends);
        await this.frame(false, frame.bytes, frame.through ?? 0);
      }
    }
    return through;
  }

  /** A new session that the mirror follows from `held`, if it holds exactly that. */
  private async follow(held: StreamPosition): Promise<boolean> {
    const session = randomUUID();
    if (!(await this.requests!.resume(session, held))) return false;
    this.session = session;
    this.next = 0;
    return true;
  }

  /**
   * Sends the next frame of the stream: the appends that fit in it whole, or the first records of one
   * too large for a frame (the rest stays first in line, and the append counts as acknowledged with
   * its last part). Waits only when the pipeline is full.
   */
  private async stream(): Promise<void> {
    const { bytes, through } = takeFrame(this.outbox);
    const gen = this.generation;
    const sent: Promise<void> = this.frame(false, bytes, through ?? 0).then(() => {
      if (gen !== this.generation || this.state !== 'streaming' || through === undefined) return;
      this.acked = Math.max(this.acked, through);
      this.progress();
    }, (err: unknown) => {
      if (gen !== this.generation) return;
      this.failed = err;
      this.wake?.();
    }).finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
    if (this.inFlight.size >= PIPELINE) await Promise.race(this.inFlight);
  }

  private progress(): void {
    this.events.acked();
    if (this.outbox.length === 0 && this.acked === this.log().lsn) this.events.caughtUp(this.node);
  }

  /** Frames are numbered when sent, so that frames in flight keep their order. */
  private frame(reset: boolean, records: Uint8Array, lsn: number): Promise<void> {
    return this.send({ session: this.session, from: this.next++, reset, lsn, records });
  }

  private idle(): Promise<void> {
    return new Promise((r) => { this.wake = () => { this.wake = undefined; r(); }; });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => { this.wake = undefined; r(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; r(); };
    });
  }
}

/**
 * Takes the next frame off `appends`: those that fit in it whole, or the first records of one too large
 * for a frame (the rest stays first in line). `through`: the lsn of its last whole append, if any.
 */
function takeFrame(appends: Shipped[]): { bytes: Uint8Array; through: number | undefined } {
  let bytes = 0;
  let take = 0;
  for (const e of appends) {
    if (take > 0 && bytes + e.framed.bytes.length > FRAME_BATCH_BYTES) break;
    bytes += e.framed.bytes.length;
    take++;
  }
  const first = appends[0]!.framed;
  if (bytes <= FRAME_BATCH_BYTES || first.lengths.length === 1) {
    const batch = appends.splice(0, take);
    // One append as it is: the links of both mirrors send the same bytes, which go as one pair frame.
    return { bytes: batch.length === 1 ? batch[0]!.framed.bytes : Buffer.concat(batch.map((e) => e.framed.bytes), bytes), through: batch.at(-1)!.lsn };
  }
  const { count, bytes: part } = fitting(first.lengths, 0);
  appends[0] = { lsn: appends[0]!.lsn, framed: { bytes: first.bytes.subarray(part), lengths: first.lengths.slice(count) } };
  return { bytes: first.bytes.subarray(0, part), through: undefined };
}

/** The records from `from` on that fit in one frame, at least one: how many, and their bytes. */
function fitting(lengths: readonly number[], from: number): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  while (from + count < lengths.length && (count === 0 || bytes + lengths[from + count]! <= FRAME_BATCH_BYTES)) bytes += lengths[from + count++]!;
  return { count, bytes };
}
