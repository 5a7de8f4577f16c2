// A queue's durable log: numbered segment files of framed records (record-codec.ts). Appends are
// group-committed; recovery replays the segments in order and repairs what a crash tore; compaction
// deletes old segments that no longer hold anything a restart would need.
import { constants } from 'node:fs';
import { open, readdir, rm, stat, truncate, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Seq } from '../node/ids.ts';
import { DiskFailure, StorageError } from '../node/errors.ts';
import { readAll, syncDir, writeAll } from './durable-fs.ts';
import { LiveIndex } from './live-index.ts';
import { FrameWriter, framedSize, readFrame, scanRecords } from './record-codec.ts';
import { Replayer, seqAfter } from './replay.ts';
import type { Trash } from './trash.ts';
import type { AppendOptions, Framed, FsyncPolicy, LogPlace, LogRecord, QueueLog, RecoveredQueue, StoredMessage } from './storage.ts';

export interface FileLogOptions {
  readonly fsync: FsyncPolicy;
  readonly segmentBytes: number;
  /** Where deleted segments, and the log's folder when destroyed, go to be freed. */
  readonly trash: Trash;
  /** What went wrong that nothing waits for (a segment that could not be deleted). */
  readonly report: (err: Error) => void;
}

/**
 * 'batch' mode: how long written records may wait for their fdatasync. Weaker than 'always': append
 * resolves once the OS has the bytes, so a process crash loses nothing, but an OS crash or a power
 * loss can lose what was confirmed in the last BATCH_SYNC_MS.
 */
const BATCH_SYNC_MS = 50;
/** How long a deferrable append may wait for an urgent one to carry it (AppendOptions). */
const DEFER_MS = 5;
/** A log idle this long lets its framing buffers go; a busy one reuses them from group to group. */
const IDLE_RELEASE_MS = 1_000;
const SEGMENT_FILE = /^(\d{20})\.seg$/;
/**
 * Left by a clean close, taken away by the next recovery. Without it, the process stopped with the log
 * open: deliveries go out before their 'delivered' records are written, so any message may have been
 * delivered with no record of it (RecoveredQueue.uncertainBelow).
 */
const CLEAN_FILE = 'closed-cleanly';
/**
 * There while the log is written under fsync 'batch' (made before its first write, removed once a
 * recovery under 'always' made everything durable): after a crash of the machine a write may then be
 * on disk without one before it, so the log's last mark vouches for nothing.
 */
const BATCH_FILE = 'written-unsynced';
/** The most one read of neighbouring records takes in. */
const MAX_READ_BYTES = 1024 * 1024;

interface Segment {
  readonly no: number;
  /** Live messages whose enqueue record is in this segment. */
  live: number;
  /**
   * Earlier segments holding messages that this segment's delivered/remove records are about. This
   * one must outlive them: deleted first, it would let a restart resurrect those messages.
   */
  readonly dependsOn: Set<number>;
  handle?: Promise<FileHandle>;
  /** Chosen by compaction, its deletion under way: nothing opens it again. */
  doomed?: boolean;
}

/** The segment appends go to; rotation replaces its fields in place. */
interface Active {
  segment: Segment;
  handle: FileHandle;
  size: number;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Appends waiting for the next write, their records already framed: framing happens in append(),
 * while the previous group's write and fdatasync are under way, and a record that cannot be framed
 * fails its own append only.
 */
class Group {
  readonly frames = new FrameWriter();
  readonly records: { readonly record: LogRecord; readonly length: number }[] = [];
  readonly waiters: Waiter[] = [];
  /** Some append in the group may not be deferred (see AppendOptions): the group is written at once. */
  urgent = false;
  /** Appends that want to know where they are written (AppendOptions.onPlaced): their offsets in the group. */
  readonly placements: { readonly at: number; readonly placed: (place: LogPlace) => void }[] = [];

  add(records: readonly LogRecord[], framed?: Framed, placed?: (place: LogPlace) => void): void {
    const bytes = this.frames.bytes.length;
    const count = this.records.length;
    try {
      if (framed) {
        const total = framed.lengths.reduce((sum, n) => sum + n, 0);
        if (framed.lengths.length !== records.length || total !== framed.bytes.length) {
          throw new Error(`${framed.lengths.length} frames of ${total} bytes for ${records.length} records in ${framed.bytes.length} bytes`);
        }
        this.frames.addFramed(framed.bytes);
        records.forEach((record, i) => this.records.push({ record, length: framed.lengths[i]! }));
      } else {
        this.frames.reserve(framedSize(records));
        for (const record of records) this.records.push({ record, length: this.frames.add(record) });
      }
    } catch (err) {
      this.frames.truncate(bytes);
      this.records.length = count;
      throw err;
    }
    if (placed) this.placements.push({ at: bytes, placed });
  }

  clear(): void {
    this.frames.truncate(0);
    this.records.length = 0;
    this.waiters.length = 0;
    this.placements.length = 0;
    this.urgent = false;
  }
}

interface Damage {
  readonly offset: number;
  readonly length: number;
  readonly records: number;
  readonly reason: string;
}

export class FileQueueLog implements QueueLog {
  private readonly segments = new Map<number, Segment>();
  private readonly index = new LiveIndex();
  /** Set by recover(). */
  private active: Active | undefined;
  /** The segment of the highest seq. Never compacted, so that nextSeq survives a restart. */
  private top: Segment | undefined;
  /** The segment of the last record. Never compacted, so that recovery ends on the record the log ended on (a mirror's mark). */
  private newest: Segment | undefined;
  private lastSeq = 0;
  /** Fills while `writing` is written; they swap at each round of the group commit. */
  private pending = new Group();
  private writing = new Group();
  private flushing = false;
  private deferTimer: NodeJS.Timeout | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  private flushed: Promise<void> = Promise.resolve();
  private syncDue = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private failure: DiskFailure | undefined;
  private closing: Promise<void> | undefined;
  /** A deletion failed: compaction stops until the next open (see compact). */
  private compactionHalted = false;
  /** Settles when recover() is done, whatever its outcome. */
  private recovering: Promise<void> | undefined;
  /**
   * The next segment, created while the active one fills: creating a file and syncing its folder at
   * rotation stalled that group's write (on a mirrored queue, on every replica at once).
   */
  private next: { readonly no: number; readonly handle: Promise<FileHandle> } | undefined;
  /** Deletions of compacted segments, one after another, off the path of the appends. */
  private compacted: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly dir: string,
    private readonly opts: FileLogOptions,
    private readonly onClose: () => void,
    /** Deletes the folder of this log once closed, its name taken again meanwhile (FileStorage.destroyQueue). */
    private readonly destroyClosed: () => Promise<void>,
  ) {}

  recover(): Promise<RecoveredQueue> {
    if (this.active || this.closing || this.recovering) return Promise.reject(this.error('recover() runs once, before anything else'));
    const recovering = this.recoverNow();
    this.recovering = recovering.then(() => {}, () => {});
    return recovering;
  }

  private async recoverNow(): Promise<RecoveredQueue> {
    const report = { droppedRecords: 0, droppedBytes: 0, problems: [] as string[] };
    const replayer = new Replayer();
    const files = await readdir(this.dir);
    const clean = files.includes(CLEAN_FILE);
    const unsynced = files.includes(BATCH_FILE);
    // Gone for good before anything is delivered: a crash from now on is not a clean close.
    if (clean) await rm(join(this.dir, CLEAN_FILE)).then(() => syncDir(this.dir));
    if (!this.dsync && !unsynced) await writeFile(join(this.dir, BATCH_FILE), '').then(() => syncDir(this.dir));
    const nos = files
      .flatMap((file) => SEGMENT_FILE.exec(file)?.[1] ?? [])
      .map(Number)
      .sort((a, b) => a - b);
    await this.dropUnusedNext(nos);
    let scratch: Buffer = Buffer.alloc(0);
    let last: { segment: Segment; size: number } | undefined;
    for (const [i, no] of nos.entries()) {
      const isLast = i === nos.length - 1;
      const bytes = await this.readSegment(no, scratch);
      if (bytes.length > scratch.length) scratch = bytes;
      const segment = this.addSegment(no);
      const damaged: Damage[] = [];
      let end = 0;
      for (const item of scanRecords(bytes, { torn: isLast })) {
        if (item.kind === 'damage') {
          damaged.push(item);
        } else if (item.record.type === 'enqueue' && !(item.record.meta.seq > this.lastSeq)) {
          const reason = `seq ${item.record.meta.seq} does not follow ${this.lastSeq}`;
          damaged.push({ offset: item.offset, length: item.length, records: 1, reason });
        } else {
          const { record } = item;
          if (record.type === 'enqueue') this.lastSeq = record.meta.seq;
          this.track(record, segment, item.offset, item.length);
          replayer.apply(record);
          end = item.offset + item.length;
        }
      }
      for (const d of damaged) {
        report.droppedRecords += d.records;
        report.droppedBytes += d.length;
        const what = isLast && d.offset >= end ? 'truncated a torn tail of' : 'skipped';
        report.problems.push(`segment ${no}: ${what} ${d.length} bytes at offset ${d.offset} (${d.records} record(s) lost: ${d.reason})`);
      }
      if (isLast) {
        if (end < bytes.length) await truncate(this.pathOf(no), end);
        last = { segment, size: end };
      }
    }
    this.active = last ? await this.reopen(last.segment, last.size) : await this.createSegment(1);
    this.compact(this.active);
    await this.compacted;
    if (this.failure) throw this.failure;
    // Closed meanwhile: the close waited for this recovery, and the log serves nothing.
    if (this.closing) throw this.error('the log was closed while it recovered');
    const recovered = replayer.result(report);
    // What recovery read is durable now (reopen): from here on, under 'always', every write is in order.
    if (this.dsync && unsynced) await rm(join(this.dir, BATCH_FILE)).then(() => syncDir(this.dir));
    if (clean) return recovered;
    const { mark, ...unmarked } = recovered;
    return { ...(unsynced ? unmarked : recovered), uncertainBelow: recovered.nextSeq };
  }

  async append(records: readonly LogRecord[], options?: AppendOptions): Promise<void> {
    if (this.closing) throw this.error('the log is closed');
    if (!this.active) throw this.error('recover() must run before append()');
    if (this.failure) throw this.failure;
    // Checked here, before the records join a group, so that a bad append fails alone.
    const after = seqAfter(records, this.lastSeq);
    if ('refused' in after) throw this.error(after.refused);
    try {
      this.pending.add(records, options?.framed, options?.onPlaced);
    } catch (err) {
      throw this.error('a record cannot be framed', err);
    }
    this.lastSeq = after.last;
    const active = this.active;
    return new Promise((resolve, reject) => {
      this.pending.waiters.push({ resolve, reject });
      if (options?.deferrable) this.deferTimer ??= setTimeout(() => this.hurry(active), DEFER_MS);
      else this.hurry(active);
    });
  }

  async read(seqs: readonly Seq[]): Promise<StoredMessage[]> {
    const located = seqs.map((seq) => {
      const at = this.index.locate(seq);
      const segment = at && this.segments.get(at.segment);
      if (!at || !segment) throw this.error(`no live message with seq ${seq}`);
      return { seq, at, segment };
    });
    const out: StoredMessage[] = [];
    // Records that sit back to back in one segment (a backlog read in order) come in one read.
    for (let i = 0; i < located.length;) {
      const first = located[i]!;
      let end = first.at.offset + first.at.length;
      let j = i + 1;
      for (let next = located[j]; next && next.segment === first.segment && next.at.offset === end && end - first.at.offset < MAX_READ_BYTES; next = located[++j]) {
        end += next.at.length;
      }
      let bytes: Buffer;
      try {
        bytes = await this.readBytes(first.segment, first.at.offset, end - first.at.offset);
      } catch (err) {
        throw this.error(`cannot read the record of seq ${first.seq}`, err);
      }
      for (const { seq, at } of located.slice(i, j)) {
        const frame = readFrame(bytes, at.offset - first.at.offset);
        if (!frame.ok || frame.record.type !== 'enqueue' || frame.record.meta.seq !== seq) {
          throw this.error(`the record of seq ${seq} is damaged (${frame.ok ? 'another record is in its place' : frame.reason})`);
        }
        out.push(frame.record);
      }
      i = j;
    }
    return out;
  }

  async readPlaced(place: LogPlace, length: number): Promise<Uint8Array | undefined> {
    const segment = this.segments.get(place.segment);
    if (!segment) return undefined;
    try {
      const bytes = await this.readBytes(segment, place.offset, length);
      return bytes.length === length ? bytes : undefined;
    } catch {
      return undefined; // compacted meanwhile, or unreadable: the caller does without
    }
  }

  /** Up to `length` bytes of a segment from `offset` (fewer at its end). */
  private async readBytes(segment: Segment, offset: number, length: number): Promise<Buffer> {
    // Its last messages were removed while this read waited: it is being deleted.
    if (segment.doomed) throw new Error('the segment was compacted away');
    const handle = await (segment.handle ??= this.openForReading(segment));
    const buffer = Buffer.allocUnsafe(length);
    return buffer.subarray(0, await readAll(handle, buffer, offset));
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown().finally(() => this.onClose()));
  }

  destroy(): Promise<void> {
    // Closed already, its name is free: a log opened anew under it must not lose its files to the move.
    if (this.closing) return this.closing.then(() => this.destroyClosed());
    // The name stays taken until the folder is gone.
    return (this.closing = this.shutdown().then(() => this.opts.trash.remove(this.dir)).finally(() => this.onClose()));
  }

  private async shutdown(): Promise<void> {
    // A recovery under way finishes first: it writes (a torn tail cut, compaction), and its handles must close with the rest.
    await this.recovering;
    const active = this.active;
    if (active) {
      this.syncDue = this.opts.fsync === 'batch'; // what was written gets its fdatasync now
      this.hurry(active);
      await this.flushed;
    }
    await this.compacted;
    await this.discardNext();
    await Promise.all([...this.segments.values()].map(closeSegment));
    clearTimeout(this.releaseTimer);
    this.releaseBuffers();
    // Only a log that recovered and wrote all it was given. Without the mark, the next recovery merely
    // flags more messages redelivered than it must.
    if (active && !this.failure) await writeFile(join(this.dir, CLEAN_FILE), '').catch(() => {});
  }

  /** The pending group is to be written now. */
  private hurry(active: Active): void {
    this.pending.urgent = true;
    this.kick(active);
  }

  private kick(active: Active): void {
    if (this.flushing) return;
    this.flushing = true;
    this.flushed = this.flush(active);
  }

  /** The group commit: everything appended since the last round shares one write and one fdatasync. */
  private async flush(active: Active): Promise<void> {
    for (;;) {
      // Lets the appends of this turn join the group (those of callers whose append just resolved,
      // too), and no more: waiting for the next turn of the event loop instead started the write of a
      // queue actor's append only after the rest of its turn (1 ms later on a W1 leader, measured).
      await Promise.resolve();
      if (!this.pending.urgent && !this.syncDue) {
        // Idle, between two windows of a producer as often as for good: the buffers go if it lasts.
        // Released at once, they were allocated and grown again for every group (a MiB a W1 window).
        this.releaseTimer ??= setTimeout(() => this.releaseBuffers(), IDLE_RELEASE_MS).unref();
        break;
      }
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
      const group = this.pending;
      this.pending = this.writing;
      this.writing = group;
      const sync = this.opts.fsync === 'always' || this.syncDue;
      this.syncDue = false;
      try {
        if (this.failure) throw this.failure;
        await this.write(active, group);
        if (sync) {
          clearTimeout(this.syncTimer); // this sync covers what the timer was for
          this.syncTimer = undefined;
          if (!this.dsync) await active.handle.datasync();
          this.compact(active);
        } else {
          this.syncTimer ??= setTimeout(() => {
            this.syncTimer = undefined;
            this.syncDue = true;
            this.kick(active);
          }, BATCH_SYNC_MS);
        }
        for (const w of group.waiters) w.resolve();
      } catch (err) {
        // After a failed write or fdatasync the file's state is unknown (and a retried fsync may lie).
        this.failure ??= new DiskFailure(`queue '${this.name}': a write or sync failed; the log takes no more appends`, { cause: err });
        for (const w of group.waiters) w.reject(this.failure);
      }
      group.clear();
    }
    this.flushing = false;
  }

  /** An idle log keeps no buffer, but for the one holding deferred appends (their timer writes them). */
  private releaseBuffers(): void {
    this.releaseTimer = undefined;
    if (this.flushing) return;
    if (this.pending.records.length === 0) this.pending.frames.release();
    this.writing.frames.release();
  }

  private async write(active: Active, group: Group): Promise<void> {
    const bytes = group.frames.bytes;
    if (active.size > 0 && active.size + bytes.length > this.opts.segmentBytes) {
      // A sealed segment must be durable: compaction deletes older segments on the strength of its
      // records. With O_DSYNC every write already was.
      if (!this.dsync) await active.handle.datasync();
      Object.assign(active, await this.createSegment(active.segment.no + 1));
    }
    await writeAll(active.handle, bytes, active.size);
    for (const { at, placed } of group.placements) placed({ segment: active.segment.no, offset: active.size + at });
    for (const { record, length } of group.records) {
      this.track(record, active.segment, active.size, length);
      active.size += length;
    }
    if (!this.next && active.size > this.opts.segmentBytes / 2) {
      const no = active.segment.no + 1;
      this.next = { no, handle: this.newSegmentFile(no) };
      this.next.handle.catch(() => {}); // a failure is met, and reported, at rotation
    }
  }

  /** Keeps the index and the segments' bookkeeping in step with a record now on disk. */
  private track(record: LogRecord, segment: Segment, offset: number, length: number): void {
    this.newest = segment;
    if (record.type === 'mark') return;
    if (record.type === 'enqueue') {
      this.index.add(record.meta.seq, { segment: segment.no, offset, length });
      segment.live++;
      this.top = segment;
      return;
    }
    for (const seq of record.seqs) {
      const at = record.type === 'remove' ? this.index.remove(seq) : this.index.segmentOf(seq);
      if (at === undefined) continue;
      // The segment of an indexed message has a live message, so it is still there.
      if (record.type === 'remove') this.segments.get(at)!.live--;
      if (at !== segment.no) segment.dependsOn.add(at);
    }
  }

  /**
   * Deletes, oldest first, the segments whose messages are all gone and that nothing else needs. Called
   * when every record tracked so far is durable, so that it decides on durable records alone; the
   * deletions follow in the background.
   */
  private compact(active: Active): void {
    if (this.compactionHalted) return;
    const doomed: Segment[] = [];
    for (const s of this.segments.values()) {
      if (s === active.segment || s === this.top || s === this.newest || s.live > 0) continue;
      if ([...s.dependsOn].some((d) => this.segments.has(d))) continue;
      this.segments.delete(s.no);
      s.doomed = true;
      doomed.push(s);
    }
    if (doomed.length === 0) return;
    this.compacted = this.compacted.then(async () => {
      for (const [i, s] of doomed.entries()) {
        // After a failed deletion, none: a segment chosen since (in this batch or a later one) may hold
        // the removes of the messages of the one that stays. The log goes on; the next open compacts.
        if (this.compactionHalted) return this.keep(doomed.slice(i));
        try {
          await closeSegment(s);
          // Each deletion is durable before the next, for the same reason.
          await this.opts.trash.remove(this.pathOf(s.no));
        } catch (err) {
          s.handle = undefined; // closed above: a read opens it again
          this.compactionHalted = true;
          this.opts.report(new StorageError(`queue '${this.name}': deleting an old segment failed; old segments stay until the queue opens again: ${(err as Error)?.message ?? err}`, { cause: err }));
          return this.keep(doomed.slice(i));
        }
      }
    });
  }

  /** Segments chosen for deletion that stay after all. */
  private keep(segments: readonly Segment[]): void {
    for (const s of segments) {
      s.doomed = false;
      this.segments.set(s.no, s);
    }
  }

  /** A segment's bytes, read into `scratch` when it is large enough: one buffer serves every segment. */
  private async readSegment(no: number, scratch: Buffer): Promise<Buffer> {
    const handle = await open(this.pathOf(no), 'r');
    try {
      const { size } = await handle.stat();
      const into = size <= scratch.length ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
      return into.subarray(0, await readAll(handle, into, 0));
    } finally {
      await handle.close();
    }
  }

  private async reopen(segment: Segment, size: number): Promise<Active> {
    const handle = await open(this.pathOf(segment.no), constants.O_RDWR | this.dsyncFlag);
    // What recovery read may sit only in the page cache (the process died, not the OS), and a tail
    // may just have been truncated: make both durable before compaction trusts them.
    await handle.datasync();
    segment.handle = Promise.resolve(handle);
    return { segment, handle, size };
  }

  private async createSegment(no: number): Promise<Active> {
    const made = this.next?.no === no ? this.next.handle : undefined;
    this.next = undefined;
    // One that could not be made ahead (too many open files, say) is tried again now.
    const handle = (await made?.catch(() => undefined)) ?? (await this.newSegmentFile(no));
    const segment = this.addSegment(no);
    segment.handle = Promise.resolve(handle);
    return { segment, handle, size: 0 };
  }

  private async newSegmentFile(no: number): Promise<FileHandle> {
    const path = this.pathOf(no);
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | this.dsyncFlag);
    try {
      await syncDir(this.dir); // the new file's name must be as durable as the records it is about to hold
    } catch (err) {
      await dropFile(handle, path); // gone again, so that it can be made anew
      throw err;
    }
    return handle;
  }

  /** A next segment made ahead and never written to is removed when the log closes or is destroyed. */
  private async discardNext(): Promise<void> {
    const next = this.next;
    this.next = undefined;
    if (!next) return;
    const handle = await next.handle.catch(() => undefined);
    if (handle) await dropFile(handle, this.pathOf(next.no));
  }

  /**
   * A crash can leave the next segment made ahead, empty, after the last one written to: it goes, so
   * that the last one written to is reopened, its torn tail truncated, and the next made again.
   */
  private async dropUnusedNext(nos: number[]): Promise<void> {
    const last = nos.at(-1);
    if (nos.length < 2 || last === undefined || (await stat(this.pathOf(last))).size > 0) return;
    await unlink(this.pathOf(last));
    await syncDir(this.dir);
    nos.pop();
  }

  private addSegment(no: number): Segment {
    const segment: Segment = { no, live: 0, dependsOn: new Set() };
    this.segments.set(no, segment);
    return segment;
  }

  private openForReading(segment: Segment): Promise<FileHandle> {
    return open(this.pathOf(segment.no), 'r').catch((err: unknown) => {
      segment.handle = undefined; // a failed open is not remembered: the next read tries again
      throw err;
    });
  }

  private pathOf(no: number): string {
    return join(this.dir, `${String(no).padStart(20, '0')}.seg`);
  }

  /**
   * fsync 'always': segments are opened O_DSYNC, so that a group's write returns durable. One trip to
   * the thread pool instead of two (write, then fdatasync), and no wait for the event loop in between.
   */
  private get dsync(): boolean {
    return this.opts.fsync === 'always';
  }

  private get dsyncFlag(): number {
    return this.dsync ? constants.O_DSYNC : 0;
  }

  private error(message: string, cause?: unknown): StorageError {
    return new StorageError(`queue '${this.name}': ${message}`, { cause });
  }
}

/** Closes and removes a file nothing was written to; a failure leaves it for recovery, which removes it. */
async function dropFile(handle: FileHandle, path: string): Promise<void> {
  await handle.close().catch(() => {});
  await unlink(path).catch(() => {});
}

async function closeSegment(segment: Segment): Promise<void> {
  // A handle that failed to open has nothing to close.
  await segment.handle?.then((h) => h.close(), () => undefined);
}
