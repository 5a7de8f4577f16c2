// The mirror side, one per node: takes replicate frames addressed to this node (alone, or with one
// other mirror in a replicate-pair frame), for any mirrored queue it holds a replica of, and appends
// their records to its own copy of the queue's log (the same log format and files as a leader's, so
// that promotion is just opening the queue). A frame is
// answered only once its records are fdatasync'd: that answer is what lets the leader confirm.
// Refused, with an error answer and a count: a stale epoch (a deposed leader: fencing), a frame out of
// its session's order (the leader starts over with a snapshot), damaged records, a queue this node
// leads or is no replica of, and anything that is not a replicate frame, a position or a resume request.
// A position request asks what this node holds of a queue, durably (its highest seq, and its place in
// the leader's stream while it knows it): a candidate for the lead compares it with its own (quorum.ts).
// A resume request, from a new leader, asks the mirror to follow its stream from the place where the
// new leader stood in the old one when it took over: a mirror that holds exactly that much goes on
// without a snapshot (a failover costs no copy of the backlog); any other answers no, and gets one.
import { checkName } from '../node/options.ts';
import { asQueue, type NodeId, type QueueName } from '../node/ids.ts';
import { frameRecords, scanFramed } from '../storage/record-codec.ts';
import type { Framed, LogRecord, QueueLog, Storage } from '../storage/storage.ts';
import { isReplyInbox, type ClusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, FrameError, type ReplicateFrame } from '../transport/frame.ts';
import type { Subscription, Transport, TransportMessage } from '../transport/transport.ts';
import { control, controlOk, errorFrame, mirrorRequest, Replier, type ControlReply, type MirrorRequest, type ResumeRequest } from '../queues/remote-protocol.ts';
import type { ServerCounters } from '../queues/queue-server.ts';
import type { Position, StreamPosition } from './quorum.ts';

interface Replica {
  log: QueueLog | undefined;
  /** The highest epoch seen, from frames or from the metadata. */
  epoch: number;
  session: string;
  next: number;
  /** This node leads the queue: its log belongs to the queue actor. */
  leading: boolean;
  /** The highest seq held durably (acknowledged frames only); undefined until the log is open. */
  highest: number | undefined;
  /**
   * The place in the current leader's stream that the log holds exactly, durably: from the frames
   * acknowledged, or after a restart from the log's last mark. Unknown after a failed append.
   */
  stream: StreamPosition | undefined;
  /**
   * The log holds records past `stream`: the first part of an append too large for one frame, or a
   * snapshot not yet whole. No session may then go on from `stream`.
   */
  torn: boolean;
  /** Settles once the last append is durable, or failed: what `stream` says is then all the log holds. */
  written: Promise<void>;
  /** Frames of one queue are handled one after another. */
  chain: Promise<void>;
}

/** How long a request to another mirror (position, resume) waits for its answer. */
const MIRROR_REQUEST_TIMEOUT_MS = 1_000;

class Refused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class ReplicaServer {
  private readonly replier: Replier;
  private subs: Subscription[] = [];
  private readonly replicas = new Map<QueueName, Replica>();
  /** Copies of deleted queues being destroyed, by name. */
  private readonly destroying = new Map<QueueName, Promise<void>>();

  constructor(
    private readonly transport: Transport,
    private readonly subjects: ClusterSubjects,
    private readonly self: string,
    private readonly storage: Storage,
    counters: ServerCounters,
    /** Whether the metadata names this node a replica of the queue: no other frame touches storage. */
    private readonly isReplica: (queue: QueueName) => boolean,
    /** The queue's metadata as stored now (not as last seen): read before a reset empties this copy. */
    private readonly storedMeta: (queue: QueueName) => Promise<{ readonly epoch: number; readonly inSync: readonly string[] } | undefined> = async () => undefined,
  ) {
    this.replier = new Replier(transport, counters.rejected);
  }

  /** Queues this server keeps a replica's state for. */
  get size(): number {
    return this.replicas.size;
  }

  start(): void {
    this.subs = [this.subjects.replicate(this.self), ...this.subjects.replicatePairsOf(this.self)].map((s) => this.transport.subscribe(s, (m) => this.onFrame(m)));
  }

  /** The metadata shows an epoch: frames of older ones are refused from now on. */
  fence(queue: QueueName, epoch: number): void {
    // Only where the node holds a replica: another keeps no entry per mirrored queue of the cluster.
    if (!this.replicas.has(queue) && !this.isReplica(queue)) return;
    const r = this.replica(queue);
    r.epoch = Math.max(r.epoch, epoch);
  }

  /**
   * This node becomes the leader: the replica's log is closed and handed over. `fresh`: the queue's
   * first leader, whose log starts from nothing; a copy on disk is of a deleted queue of that name,
   * which this node missed being down. Resolves with the place in the old leader's stream that the log
   * holds, where this node knows it (it followed that leader, and its last append did not fail): a
   * mirror that holds as much may follow the new leader from there (resume).
   */
  lead(queue: QueueName, fresh: boolean): Promise<StreamPosition | undefined> {
    const r = this.replica(queue);
    r.leading = true;
    return this.enqueue(r, async () => {
      await r.written;
      const held = !fresh && r.log && !r.torn ? r.stream : undefined;
      if (fresh) await this.wipe(queue, r);
      else await r.log?.close();
      r.log = undefined;
      r.session = '';
      r.highest = undefined;
      r.stream = undefined;
      r.torn = false;
      return held;
    });
  }

  /**
   * The highest seq `node` holds of the queue durably, as it answers (this node's own from its log,
   * opened if need be), and its place in the stream where it knows it; undefined without an answer,
   * and an error answer (its copy cannot be opened, say) rejects.
   */
  async position(queue: QueueName, node: NodeId): Promise<Position | undefined> {
    if (node === this.self) return this.ownPosition(queue).catch(() => undefined);
    return (await this.ask(node, { op: 'position', queue }))?.position;
  }

  /**
   * Asks `node` to follow this node's stream (epoch, session) from `from`, where this node took over:
   * true if it holds exactly that much and does; false otherwise, or without an answer (a snapshot then).
   * An error answer (a stale epoch) rejects: the link lags, and starts over later.
   */
  async resume(queue: QueueName, node: NodeId, epoch: number, session: string, from: StreamPosition): Promise<boolean> {
    return (await this.ask(node, { op: 'resume', queue, epoch, session, from }))?.resumed === true;
  }

  /** A request to another mirror on its replicate subject: its answer, undefined without one in time; an error answer rejects. */
  private ask(node: NodeId, request: MirrorRequest): Promise<ControlReply | undefined> {
    return this.transport.request(this.subjects.replicate(node), control(request), { timeoutMs: MIRROR_REQUEST_TIMEOUT_MS })
      .then(controlOk, () => undefined);
  }

  /** This node no longer leads: it waits for the new leader's snapshot. */
  follow(queue: QueueName): void {
    this.replica(queue).leading = false;
  }

  /** The queue was deleted: this node's copy goes from disk (the leader's went with its queue actor). */
  destroy(queue: QueueName): Promise<void> {
    const r = this.replica(queue);
    // Forgotten at once (its epoch, its session, whether it led), but a queue declared anew under the
    // name starts on a replica whose work waits behind the destroy: it must not find the old copy.
    this.replicas.delete(queue);
    const destroyed = this.enqueue(r, async () => { if (!r.leading) await this.wipe(queue, r); });
    const settled = r.chain;
    this.destroying.set(queue, settled);
    void settled.then(() => { if (this.destroying.get(queue) === settled) this.destroying.delete(queue); });
    return destroyed;
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await Promise.all([...this.replicas.values()].map((r) => this.enqueue(r, async () => {
      await r.written;
      await r.log?.close();
      r.log = undefined;
    })));
  }

  private onFrame(received: TransportMessage): void {
    let frame: ReplicateFrame;
    let queue: QueueName;
    let m = received;
    try {
      const f = decode(m.data);
      if (f.type === 'replicate-pair') {
        // This node's place in the pair: its session, and where its answer goes.
        const mine = f.to.find((t) => t.node === this.self);
        if (!mine) throw new FrameError('malformed', 'a replicate-pair frame not addressed to this node');
        if (!isReplyInbox(mine.reply)) throw new FrameError('malformed', 'a replicate-pair frame whose reply-to is not an inbox subject');
        m = { ...received, reply: mine.reply };
        frame = { type: 'replicate', queue: f.queue, epoch: f.epoch, session: mine.session, from: mine.from, reset: false, lsn: f.lsn, records: f.records };
      } else if (f.type === 'replicate') {
        frame = f;
      } else if (f.type === 'control') {
        return this.onRequest(m, f.json);
      } else {
        throw new FrameError('type', `expected a replicate frame, got ${f.type}`);
      }
      queue = asQueue(checkName('queue', frame.queue));
    } catch (err) {
      return this.replier.refuse(m, err instanceof FrameError ? err.reason : 'malformed', String((err as Error).message));
    }
    // Checked before any state is kept for the queue: a frame for one this node holds no replica of
    // (a late one of a deleted queue, a stray name) must leave nothing behind.
    if (!this.replicas.has(queue) && !this.isReplica(queue)) return this.answerError(m, new Refused('not-a-replica', `this node holds no replica of queue '${queue}'`));
    const r = this.replica(queue);
    // Frames are checked and appended one after another; their answers wait for the fdatasync, which
    // frames that arrive together share (the log's group commit).
    void this.enqueue(r, () => this.apply(queue, r, frame)).then(({ durable }) => durable).then(
      () => this.replier.reply(m, control({ ok: true })),
      (err: unknown) => this.answerError(m, err),
    ).catch(() => {
      // The answer could not go out (the connection is closing): the leader's wait for it times out.
    });
  }

  private onRequest(m: TransportMessage, json: string): void {
    let queue: QueueName;
    let req: MirrorRequest;
    try {
      const parsed = mirrorRequest.safeParse(JSON.parse(json));
      if (!parsed.success) throw new FrameError('malformed', 'neither a position nor a resume request');
      req = parsed.data;
      queue = asQueue(checkName('queue', req.queue));
    } catch (err) {
      return this.replier.refuse(m, 'malformed', String((err as Error).message));
    }
    const answer = req.op === 'position'
      ? this.ownPosition(queue).then((position) => control({ ok: true, position }))
      : this.onResume(queue, req).then((resumed) => control({ ok: true, resumed }));
    answer.then((reply) => this.replier.reply(m, reply), (err: unknown) => this.answerError(m, err)).catch(() => {});
  }

  /**
   * Follows the new leader from where it took over, if this copy holds exactly that much of the old
   * leader's stream, written and acknowledged: then the two logs hold the same state. After a restart
   * (the place is not known), a failed append, or with more or less than that, it answers no.
   */
  private async onResume(queue: QueueName, req: ResumeRequest): Promise<boolean> {
    const r = this.mirrorOf(queue);
    return this.enqueue(r, async () => {
      this.mirrorOf(queue);
      if (req.epoch < r.epoch) throw new Refused('stale-epoch', `queue '${queue}': epoch ${req.epoch} is older than ${r.epoch}`);
      await r.written;
      const held = r.stream;
      if (!r.log || r.torn || held?.epoch !== req.from.epoch || held.lsn !== req.from.lsn) return false;
      r.epoch = req.epoch;
      r.session = req.session;
      r.next = 0;
      return true;
    });
  }

  /** A refusal is counted by its reason; a failure of this node's storage is answered as such. */
  private answerError(m: TransportMessage, err: unknown): void {
    if (err instanceof Refused) this.replier.refuse(m, err.code, err.message);
    else this.replier.reply(m, errorFrame('STORAGE', String((err as Error)?.message ?? err)));
  }

  /**
   * This node's position in the queue: from the frames it acknowledged, or from its log after a
   * restart. Frames that came before the question count (a mirror that was paused answers with what
   * it got meanwhile, once written), so that a resume from this position finds it unchanged.
   */
  private async ownPosition(queue: QueueName): Promise<Position> {
    const r = this.mirrorOf(queue);
    await this.enqueue(r, async () => {
      await r.written;
      if (r.highest === undefined) await this.open(queue, r);
    });
    return { seq: r.highest!, ...(r.stream ? { stream: { ...r.stream } } : {}) };
  }

  /** Removes the replica's copy from disk, open or not. */
  private async wipe(queue: QueueName, r: Replica): Promise<void> {
    if (r.log) await r.log.destroy();
    else await this.storage.destroyQueue(queue);
    r.log = undefined;
  }

  /** Opens the replica's log (frames stay refused until the leader's reset: no session yet). */
  private async open(queue: QueueName, r: Replica): Promise<void> {
    r.log ??= await this.storage.openQueue(queue);
    const recovered = await r.log.recover();
    r.highest = recovered.nextSeq - 1;
    r.stream = recovered.mark;
  }

  /**
   * Checks the frame and starts its append; resolves with the append's durability (wrapped, not
   * awaited), by which the replica counts what it holds.
   */
  private async apply(queue: QueueName, r: Replica, f: ReplicateFrame): Promise<{ durable: Promise<void> }> {
    this.mirrorOf(queue);
    if (f.epoch < r.epoch) throw new Refused('stale-epoch', `queue '${queue}': epoch ${f.epoch} is older than ${r.epoch}`);
    const { records, framed } = parseRecords(f.records);
    if (f.reset) {
      // A leader takes a mirror out of inSync before it empties its copy, and has an epoch the
      // metadata knows: a reset that says otherwise (a forged or replayed frame) must not wipe a copy
      // a takeover may need, nor fence out the leader with its epoch.
      const stored = await this.storedMeta(queue);
      if (stored?.inSync.includes(this.self)) throw new Refused('in-sync', `queue '${queue}': this copy is in sync; it is emptied only once out of inSync`);
      if (stored && f.epoch > stored.epoch) throw new Refused('unknown-epoch', `queue '${queue}': epoch ${f.epoch} is newer than the metadata's ${stored.epoch}`);
      // A new session starts from nothing: the snapshot that follows is the whole live state.
      await this.wipe(queue, r);
      r.stream = undefined;
      r.torn = false;
      await this.open(queue, r);
      r.session = f.session;
      r.next = 0;
    } else if (!r.log || f.session !== r.session || f.from !== r.next) {
      throw new Refused('out-of-sync', `queue '${queue}': expected frame ${r.next} of session ${r.session || '(none)'}`);
    }
    // Taken from a frame only once it is accepted: a stray frame with a high epoch must not fence out the leader.
    r.epoch = f.epoch;
    r.next = f.from + 1;
    let highest = 0;
    for (const rec of records) if (rec.type === 'enqueue' && rec.meta.seq > highest) highest = rec.meta.seq;
    // A frame that ends an append leaves the log at a place in the stream: its mark tells a restart
    // where that is, after a crash too (recovery trusts it only with everything before it intact). One
    // append: the records and their mark are taken, or refused, together.
    const written = f.lsn > 0 ? withMark(records, framed, { type: 'mark', epoch: f.epoch, lsn: f.lsn }) : { records, framed };
    const durable = (written.records.length > 0 ? r.log!.append(written.records, { framed: written.framed }) : Promise.resolve()).then(() => {
      // Counted before the answer goes out: a position never leaves out what was acknowledged.
      if (r.session !== f.session) return;
      r.highest = Math.max(r.highest ?? 0, highest);
      r.stream = { epoch: f.epoch, lsn: Math.max(r.stream?.epoch === f.epoch ? r.stream.lsn : 0, f.lsn) };
      // A frame that ends an append (its lsn) leaves nothing past the stream; one that does not, records.
      r.torn = f.lsn > 0 ? false : r.torn || records.length > 0;
    }, (err: unknown) => {
      // A failed append breaks the session: the next frame is refused, and the leader starts over. A
      // refused one (records that do not follow) is refused as append() is called, so this runs before
      // the next frame's turn in the chain: no later frame's records, nor its mark, follow a gap.
      if (r.session === f.session) {
        r.session = '';
        r.stream = undefined;
      }
      throw err;
    });
    r.written = durable.catch(() => {});
    return { durable };
  }

  /** The replica of a queue this node mirrors (a replica it does not lead), or a refusal. */
  private mirrorOf(queue: QueueName): Replica {
    if (!this.isReplica(queue)) throw new Refused('not-a-replica', `this node holds no replica of queue '${queue}'`);
    const r = this.replica(queue);
    if (r.leading) throw new Refused('leading', `this node leads queue '${queue}'`);
    return r;
  }

  private replica(queue: QueueName): Replica {
    let r = this.replicas.get(queue);
    if (!r) this.replicas.set(queue, (r = { log: undefined, epoch: 0, session: '', next: 0, leading: false, highest: undefined, stream: undefined, torn: false, written: Promise.resolve(), chain: this.destroying.get(queue) ?? Promise.resolve() }));
    return r;
  }

  private enqueue<T>(r: Replica, work: () => Promise<T>): Promise<T> {
    const done = r.chain.then(work);
    r.chain = done.then(() => {}, () => {});
    return done;
  }

}

/** The frame's records and their mark, framed as one run of bytes. */
function withMark(records: LogRecord[], framed: Framed, mark: LogRecord): { records: LogRecord[]; framed: Framed } {
  const m = frameRecords([mark]);
  return { records: [...records, mark], framed: { bytes: Buffer.concat([framed.bytes, m.bytes]), lengths: [...framed.lengths, ...m.lengths] } };
}

/**
 * Every record intact, or the frame is refused whole: a mirror never holds a damaged copy. The
 * checked frames are what the log writes, as the leader framed them.
 */
function parseRecords(bytes: Uint8Array): { records: LogRecord[]; framed: Framed } {
  const scanned = scanFramed(bytes);
  if ('damage' in scanned) throw new Refused('damaged', `damaged records in a replicate frame: ${scanned.damage}`);
  // Marks are the mirror's own: one from a frame would claim a place the log does not hold.
  if (scanned.records.some((rec) => rec.type === 'mark')) throw new Refused('damaged', 'a mark in a replicate frame');
  return scanned;
}
