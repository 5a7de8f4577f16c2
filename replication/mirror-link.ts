// The leader's line to one mirror: ships every append in order, a few frames in flight (what piles up
// meanwhile goes in the next frame, so a slow mirror gets fewer, larger frames; the mirror's group
// commit syncs frames that arrive together at once; an append or a snapshot chunk larger than a frame
// is split between records, so that every frame fits NATS's max payload), and counts what the mirror
// has acknowledged (written and fdatasync'd; answers come in frame order). A mirror that fails a frame,
// or does not answer, is lagging: it counts for no confirm, it leaves inSync, and the link starts over
// with a new session: a snapshot of the live state, then the stream from the snapshot's lsn on. The
// queue keeps serving meanwhile. A new leader's first session with a mirror may skip the snapshot: the
// mirror resumes from where the new leader stood in the old leader's stream, if it holds exactly that.
import { randomUUID } from 'node:crypto';
import type { NodeId, QueueName } from '../node/ids.ts';
import { FRAME_BATCH_BYTES } from '../node/limits.ts';
import { frameRecords } from '../storage/record-codec.ts';
import type { Framed } from '../storage/storage.ts';
import { backoffDelay } from '../supervision/backoff.ts';
import type { LeaderLog } from './leader-log.ts';

/**
 * Asks the mirror to follow `session` from the place in the old leader's stream where this leader took
 * over (its log as it recovered it): true if the mirror holds exactly that much, and follows.
 */
export type AskResume = (session: string) => Promise<boolean>;

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
  private outbox: { lsn: number; framed: Framed }[] = [];
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
    /** A new leader's: tried once, before the first snapshot. */
    private resume?: AskResume,
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
    this.resume = undefined;
    this.generation++;
    this.state = 'syncing';
    this.outbox = [];
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
    if (await this.resumed()) {
      if (gen !== this.generation || this.state !== 'syncing') return;
      // The mirror holds the state the log recovered: lsn 0 of this leader's stream.
      this.state = 'streaming';
      this.failures = 0;
      this.acked = 0;
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

  /** A new leader's first session: the mirror follows on from what it holds, if that is what the log recovered. */
  private async resumed(): Promise<boolean> {
    const ask = this.resume;
    this.resume = undefined;
    if (!ask) return false;
    const log = this.log();
    await log.recovered;
    if (!log.whole) return false;
    const session = randomUUID();
    if (!(await ask(session))) return false;
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
    let bytes = 0;
    let take = 0;
    for (const e of this.outbox) {
      if (take > 0 && bytes + e.framed.bytes.length > FRAME_BATCH_BYTES) break;
      bytes += e.framed.bytes.length;
      take++;
    }
    const first = this.outbox[0]!.framed;
    let frames: Uint8Array;
    let through: number | undefined;
    if (bytes <= FRAME_BATCH_BYTES || first.lengths.length === 1) {
      const batch = this.outbox.splice(0, take);
      // One append as it is: the links of both mirrors send the same bytes, which go as one pair frame.
      frames = batch.length === 1 ? batch[0]!.framed.bytes : Buffer.concat(batch.map((e) => e.framed.bytes), bytes);
      through = batch.at(-1)!.lsn;
    } else {
      const { count, bytes: part } = fitting(first.lengths, 0);
      frames = first.bytes.subarray(0, part);
      this.outbox[0] = { lsn: this.outbox[0]!.lsn, framed: { bytes: first.bytes.subarray(part), lengths: first.lengths.slice(count) } };
    }
    const gen = this.generation;
    const sent: Promise<void> = this.frame(false, frames, through ?? 0).then(() => {
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

/** The records from `from` on that fit in one frame, at least one: how many, and their bytes. */
function fitting(lengths: readonly number[], from: number): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  while (from + count < lengths.length && (count === 0 || bytes + lengths[from + count]! <= FRAME_BATCH_BYTES)) bytes += lengths[from + count++]!;
  return { count, bytes };
}
