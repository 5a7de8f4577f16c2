// The wire codec of Warren's NATS subjects: versioned binary frames, each carrying a batch. Bodies
// stay raw bytes (no JSON on the hot path); only rare control requests carry a small JSON payload.
// decode() trusts nothing: every length is checked against what is left, and it fails only with a
// FrameError, whatever the bytes.
import type { Headers } from '../storage/storage.ts';

const MAGIC = 0x5752; // 'WR'
export const FRAME_VERSION = 3;
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type Outcome = 'ack' | 'requeue' | 'dead-letter';
const OUTCOMES: readonly Outcome[] = ['ack', 'requeue', 'dead-letter'];

/** delayMs and ttlMs: 0 for none. */
export interface PublishEntry { readonly id: string; readonly headers: Headers; readonly priority: number; readonly delayMs: number; readonly ttlMs: number; readonly body: Uint8Array }
export type PublishAckEntry =
  | { readonly ok: true; readonly seq: number; readonly duplicate: boolean }
  | { readonly ok: false; readonly code: string; readonly message: string };
export interface DeliverEntry { readonly seq: number; readonly id: string; readonly headers: Headers; readonly deliveryCount: number; readonly body: Uint8Array }
export interface SettleEntry { readonly seq: number; readonly outcome: Outcome; readonly delayMs: number }

/**
 * Log records from a mirrored queue's leader to one mirror (replication/). `reset` starts a new
 * session (the mirror empties its copy); `from` numbers the frames of a session, so a gap is seen.
 */
export interface ReplicateFrame {
  readonly type: 'replicate';
  readonly queue: string;
  readonly epoch: number;
  readonly session: string;
  readonly from: number;
  readonly reset: boolean;
  /**
   * The leader's lsn that the mirror holds once this frame is in (0 while a snapshot or a split append
   * is in part): mirrors of one leader compare it in a takeover.
   */
  readonly lsn: number;
  /** Records in the log's own framing (record-codec.ts): each one checksummed. */
  readonly records: Uint8Array;
}

/**
 * One replicate frame for two mirrors at once (both streaming the same records): each finds its own
 * place in its own session, and where its answer goes. The leader writes the records once.
 */
export interface ReplicatePairFrame {
  readonly type: 'replicate-pair';
  readonly queue: string;
  readonly epoch: number;
  readonly to: readonly { readonly node: string; readonly session: string; readonly from: number; readonly reply: string }[];
  readonly lsn: number;
  readonly records: Uint8Array;
}

// Deliveries and settlements carry the leader's epoch (0 for a queue without mirrors): a settlement
// made for a deposed leader's delivery is ignored by its successor (fencing).
export type Frame =
  | { readonly type: 'publish'; readonly queue: string; readonly entries: readonly PublishEntry[] }
  | { readonly type: 'publish-ack'; readonly entries: readonly PublishAckEntry[] }
  | { readonly type: 'deliver'; readonly consumer: string; readonly epoch: number; readonly entries: readonly DeliverEntry[] }
  | { readonly type: 'settle'; readonly consumer: string; readonly epoch: number; readonly entries: readonly SettleEntry[] }
  | { readonly type: 'control'; readonly json: string }
  | { readonly type: 'error'; readonly code: string; readonly message: string }
  | ReplicateFrame
  | ReplicatePairFrame;

const TYPES = ['publish', 'publish-ack', 'deliver', 'settle', 'control', 'error', 'replicate', 'replicate-pair'] as const;

export type FrameErrorReason = 'magic' | 'version' | 'truncated' | 'oversized' | 'type' | 'malformed';

export class FrameError extends Error {
  constructor(readonly reason: FrameErrorReason, message: string) {
    super(`bad frame (${reason}): ${message}`);
    this.name = 'FrameError';
  }
}

const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Writes into one growing buffer: no per-field allocations beyond the output. */
class Writer {
  private buf: Buffer;
  private at = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }
  private room(n: number) {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
  u8(n: number) { this.room(1); this.at = this.buf.writeUInt8(n, this.at); }
  u16(n: number) { this.room(2); this.at = this.buf.writeUInt16BE(n, this.at); }
  u32(n: number) { this.room(4); this.at = this.buf.writeUInt32BE(n, this.at); }
  f64(n: number) { this.room(8); this.at = this.buf.writeDoubleBE(n, this.at); }
  bytes(b: Uint8Array) { this.u32(b.length); this.room(b.length); this.buf.set(b, this.at); this.at += b.length; }
  str(s: string) {
    const n = Buffer.byteLength(s);
    this.u32(n);
    this.room(n);
    this.at += this.buf.write(s, this.at);
  }
  headers(h: Headers) {
    const keys = Object.keys(h);
    this.u16(keys.length);
    for (const k of keys) { this.str(k); this.str(h[k]!); }
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

class Reader {
  private at = 0;
  /** The last headers decoded, and their bytes: the entries of a frame mostly carry the same ones. */
  private last: { readonly bytes: Uint8Array; readonly headers: Headers } | undefined;
  private readonly view: DataView;
  private readonly buf: Uint8Array;
  constructor(bytes: Uint8Array) {
    // A plain Uint8Array view even when given a Buffer: decoded bodies are Uint8Arrays, as the API says.
    this.buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(n: number) {
    if (this.at + n > this.buf.length) throw new FrameError('truncated', `needs ${n} bytes at ${this.at}, has ${this.buf.length - this.at}`);
  }
  u8() { this.need(1); return this.view.getUint8(this.at++); }
  u16() { this.need(2); const v = this.view.getUint16(this.at); this.at += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.at); this.at += 4; return v; }
  f64() { this.need(8); const v = this.view.getFloat64(this.at); this.at += 8; return v; }
  bytes() { const n = this.u32(); this.need(n); const b = this.buf.subarray(this.at, this.at + n); this.at += n; return b; }
  str() {
    try {
      return fromUtf8.decode(this.bytes());
    } catch (e) {
      if (e instanceof FrameError) throw e;
      throw new FrameError('malformed', 'a string is not UTF-8');
    }
  }
  /**
   * Frozen, and one object for a run of equal header bytes: the encoding is self-delimiting, so bytes
   * equal to the last headers' decode to the same headers, with no string decoding.
   */
  headers(): Headers {
    const start = this.at;
    if (this.last && startsWith(this.buf, start, this.last.bytes)) {
      this.at += this.last.bytes.length;
      return this.last.headers;
    }
    const n = this.u16();
    const h: Record<string, string> = {};
    for (let i = 0; i < n; i++) h[this.str()] = this.str();
    this.last = { bytes: this.buf.subarray(start, this.at), headers: Object.freeze(h) };
    return this.last.headers;
  }
  /** A count of entries, each at least `minBytes` long: a count the bytes cannot hold is refused before anything is allocated. */
  count(minBytes: number) {
    const n = this.u32();
    if (n * minBytes > this.buf.length - this.at) throw new FrameError('malformed', `${n} entries cannot fit in ${this.buf.length - this.at} bytes`);
    return n;
  }
  finite(n: number, what: string) {
    if (!Number.isFinite(n) || n < 0) throw new FrameError('malformed', `${what} is ${n}`);
    return n;
  }
  end() {
    if (this.at !== this.buf.length) throw new FrameError('malformed', `${this.buf.length - this.at} bytes after the frame`);
  }
}

function startsWith(buf: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

/** The last frozen headers sized, and their size: the messages of a batch mostly share one object. */
let lastSized: { readonly headers: Headers; readonly bytes: number } | undefined;

/** The bytes headers take in a frame (a count, then each name and value with its length). */
export function headerBytes(headers: Headers): number {
  if (lastSized?.headers === headers) return lastSized.bytes;
  let bytes = 2;
  for (const [k, v] of Object.entries(headers)) bytes += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  if (Object.isFrozen(headers)) lastSized = { headers, bytes };
  return bytes;
}

/** At most the bytes a message takes in a publish or deliver frame (its id counted at 3 bytes a unit). */
export function messageBytes(m: { readonly id: string; readonly headers: Headers; readonly body: Uint8Array }): number {
  return m.body.length + 3 * m.id.length + headerBytes(m.headers);
}

/** About the bytes a frame takes, so that a frame of bodies is written without growing its buffer. */
function expectedBytes(frame: Frame): number {
  switch (frame.type) {
    case 'publish':
    case 'deliver': {
      let n = 256;
      for (const e of frame.entries) n += e.body.length + 128;
      return n;
    }
    case 'replicate':
    case 'replicate-pair':
      return frame.records.length + 512;
    default:
      return 4096;
  }
}

export function encode(frame: Frame): Uint8Array {
  const w = new Writer(expectedBytes(frame));
  w.u16(MAGIC);
  w.u8(FRAME_VERSION);
  w.u8(TYPES.indexOf(frame.type));
  switch (frame.type) {
    case 'publish':
      w.str(frame.queue);
      w.u32(frame.entries.length);
      for (const e of frame.entries) { w.str(e.id); w.headers(e.headers); w.u8(e.priority); w.f64(e.delayMs); w.f64(e.ttlMs); w.bytes(e.body); }
      break;
    case 'publish-ack':
      w.u32(frame.entries.length);
      for (const e of frame.entries) {
        if (e.ok) { w.u8(1); w.f64(e.seq); w.u8(e.duplicate ? 1 : 0); } else { w.u8(0); w.str(e.code); w.str(e.message); }
      }
      break;
    case 'deliver':
      w.str(frame.consumer);
      w.u32(frame.epoch);
      w.u32(frame.entries.length);
      for (const e of frame.entries) { w.f64(e.seq); w.str(e.id); w.headers(e.headers); w.u32(e.deliveryCount); w.bytes(e.body); }
      break;
    case 'settle':
      w.str(frame.consumer);
      w.u32(frame.epoch);
      w.u32(frame.entries.length);
      for (const e of frame.entries) { w.f64(e.seq); w.u8(OUTCOMES.indexOf(e.outcome)); w.f64(e.delayMs); }
      break;
    case 'control':
      w.str(frame.json);
      break;
    case 'error':
      w.str(frame.code);
      w.str(frame.message);
      break;
    case 'replicate':
      w.str(frame.queue);
      w.u32(frame.epoch);
      w.str(frame.session);
      w.f64(frame.from);
      w.u8(frame.reset ? 1 : 0);
      w.f64(frame.lsn);
      w.bytes(frame.records);
      break;
    case 'replicate-pair':
      w.str(frame.queue);
      w.u32(frame.epoch);
      w.u32(frame.to.length);
      for (const t of frame.to) { w.str(t.node); w.str(t.session); w.f64(t.from); w.str(t.reply); }
      w.f64(frame.lsn);
      w.bytes(frame.records);
      break;
  }
  return w.finish();
}

export function decode(bytes: Uint8Array, maxBytes = MAX_FRAME_BYTES): Frame {
  if (bytes.length > maxBytes) throw new FrameError('oversized', `${bytes.length} bytes, the limit is ${maxBytes}`);
  const r = new Reader(bytes);
  if (r.u16() !== MAGIC) throw new FrameError('magic', 'not a Warren frame');
  const version = r.u8();
  if (version !== FRAME_VERSION) throw new FrameError('version', `version ${version}, this node speaks ${FRAME_VERSION}`);
  const type = TYPES[r.u8()];
  let frame: Frame;
  switch (type) {
    case 'publish': {
      const queue = r.str();
      const entries: PublishEntry[] = [];
      for (let n = r.count(27); n > 0; n--) {
        entries.push({ id: r.str(), headers: r.headers(), priority: r.u8(), delayMs: r.finite(r.f64(), 'delayMs'), ttlMs: r.finite(r.f64(), 'ttlMs'), body: r.bytes() });
      }
      frame = { type, queue, entries };
      break;
    }
    case 'publish-ack': {
      const entries: PublishAckEntry[] = [];
      for (let n = r.count(9); n > 0; n--) {
        entries.push(r.u8() === 1 ? { ok: true, seq: r.finite(r.f64(), 'seq'), duplicate: r.u8() === 1 } : { ok: false, code: r.str(), message: r.str() });
      }
      frame = { type, entries };
      break;
    }
    case 'deliver': {
      const consumer = r.str();
      const epoch = r.u32();
      const entries: DeliverEntry[] = [];
      for (let n = r.count(22); n > 0; n--) {
        entries.push({ seq: r.finite(r.f64(), 'seq'), id: r.str(), headers: r.headers(), deliveryCount: r.u32(), body: r.bytes() });
      }
      frame = { type, consumer, epoch, entries };
      break;
    }
    case 'settle': {
      const consumer = r.str();
      const epoch = r.u32();
      const entries: SettleEntry[] = [];
      for (let n = r.count(17); n > 0; n--) {
        const seq = r.finite(r.f64(), 'seq');
        const outcome = OUTCOMES[r.u8()];
        if (!outcome) throw new FrameError('malformed', 'unknown settle outcome');
        entries.push({ seq, outcome, delayMs: r.finite(r.f64(), 'delayMs') });
      }
      frame = { type, consumer, epoch, entries };
      break;
    }
    case 'control':
      frame = { type, json: r.str() };
      break;
    case 'error':
      frame = { type, code: r.str(), message: r.str() };
      break;
    case 'replicate':
      frame = { type, queue: r.str(), epoch: r.u32(), session: r.str(), from: r.finite(r.f64(), 'from'), reset: r.u8() === 1, lsn: r.finite(r.f64(), 'lsn'), records: r.bytes() };
      break;
    case 'replicate-pair': {
      const queue = r.str();
      const epoch = r.u32();
      const to: { node: string; session: string; from: number; reply: string }[] = [];
      for (let n = r.count(20); n > 0; n--) to.push({ node: r.str(), session: r.str(), from: r.finite(r.f64(), 'from'), reply: r.str() });
      frame = { type, queue, epoch, to, lsn: r.finite(r.f64(), 'lsn'), records: r.bytes() };
      break;
    }
    default:
      throw new FrameError('type', 'unknown frame type');
  }
  r.end();
  return frame;
}
