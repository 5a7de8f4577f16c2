// The on-disk form of log records. Every record is framed so that recovery can tell a whole record
// from a torn or corrupt one, and can find the next whole record after damage:
//
//   magic (4 bytes) | crc32 of length+payload (u32) | payload length (u32) | payload
//
// Payloads, by their first byte:
//   1 enqueue    flags | seq | enqueuedAt | priority | [expiresAt] | [readyAt] | id | headers | body
//   2 delivered  seq...
//   3 remove     reason | seq...   (reason: the index in REMOVE_REASONS)
//   4 mark       epoch | lsn       (a mirror's place in its leader's stream)
//   5 released   seq...            (deliveries given back unseen: they do not count)
// Numbers are little-endian; seqs and times are f64 (exact for integers up to 2^53). id and headers
// are a u32 byte length and UTF-8; headers are compact JSON, or nothing when there are none. The body
// ends the payload as raw bytes: it never goes through a text form.
import { crc32 } from 'node:zlib';
import { asMessageId, asSeq, type Seq } from '../node/ids.ts';
import { REMOVE_REASONS, type Framed, type Headers, type LogRecord, type MessageMeta, type RemoveReason } from './storage.ts';

/** 0xFE and 0xC1 never occur in UTF-8, so a text body never holds a false record start. */
const MAGIC = Buffer.from([0xfe, 0x57, 0xc1, 0x4e]);
const MAGIC_U32 = MAGIC.readUInt32LE(0);
const FRAME_BYTES = 12;
const MIN_BUFFER = 64 * 1024;

const ENQUEUE = 1;
const DELIVERED = 2;
const REMOVE = 3;
const MARK = 4;
const RELEASED = 5;
const HAS_EXPIRES = 1;
const HAS_READY = 2;
/** Shared by every recovered message without headers: a backlog of millions holds one object, not millions. */
const NO_HEADERS: Headers = Object.freeze({});

/**
 * Frames records into one buffer, reused from group to group: a group of appends costs no allocation
 * per record and no second copy of the bodies before it is written.
 */
export class FrameWriter {
  private buf: Buffer;
  /** Numbers go in through a DataView: the optimizing compiler turns its calls into plain stores. */
  private view: DataView;
  private end = 0;

  /** `capacity`: the bytes expected, when known, so that the buffer need not grow. */
  constructor(capacity = 0) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
    this.view = viewOf(this.buf);
  }

  /** The records framed so far, ready to be written. */
  get bytes(): Buffer {
    return this.buf.subarray(0, this.end);
  }

  /** Forgets the records framed after the first `length` bytes (0: all of them), keeping the buffer. */
  truncate(length: number): void {
    this.end = length;
  }

  /** Lets the buffer go: an idle queue keeps none, and many queues may be idle. */
  release(): void {
    this.buf = Buffer.alloc(0);
    this.view = viewOf(this.buf);
    this.end = 0;
  }

  /** Frames one record after the others; returns its framed length. */
  add(r: LogRecord): number {
    const start = this.end;
    let at = start + FRAME_BYTES;
    switch (r.type) {
      case 'enqueue': {
        const { meta, body } = r;
        const headers = headersText(meta.headers);
        // UTF-8 takes at most 3 bytes per UTF-16 unit: room enough before the exact lengths are known.
        const b = this.room(at, 2 + 8 * 5 + 4 + 3 * meta.id.length + 4 + 3 * headers.length + body.length);
        const v = this.view;
        b[at++] = ENQUEUE;
        b[at++] = (meta.expiresAt === undefined ? 0 : HAS_EXPIRES) | (meta.readyAt === undefined ? 0 : HAS_READY);
        v.setFloat64(at, meta.seq, true);
        v.setFloat64(at + 8, meta.enqueuedAt, true);
        v.setFloat64(at + 16, meta.priority, true);
        at += 24;
        if (meta.expiresAt !== undefined) { v.setFloat64(at, meta.expiresAt, true); at += 8; }
        if (meta.readyAt !== undefined) { v.setFloat64(at, meta.readyAt, true); at += 8; }
        at = writeText(b, v, at, meta.id);
        at = writeText(b, v, at, headers);
        b.set(body, at);
        at += body.length;
        break;
      }
      case 'delivered':
      case 'released':
      case 'remove': {
        const b = this.room(at, 2 + 8 * r.seqs.length);
        const v = this.view;
        b[at++] = r.type === 'remove' ? REMOVE : r.type === 'released' ? RELEASED : DELIVERED;
        if (r.type === 'remove') b[at++] = reasonCode(r.reason);
        for (const seq of r.seqs) { v.setFloat64(at, seq, true); at += 8; }
        break;
      }
      case 'mark': {
        const b = this.room(at, 1 + 16);
        const v = this.view;
        b[at++] = MARK;
        v.setFloat64(at, r.epoch, true);
        v.setFloat64(at + 8, r.lsn, true);
        at += 16;
        break;
      }
    }
    const v = this.view;
    v.setUint32(start, MAGIC_U32, true);
    v.setUint32(start + 8, at - start - FRAME_BYTES, true);
    v.setUint32(start + 4, crc32(this.buf.subarray(start + 8, at)), true);
    this.end = at;
    return at - start;
  }

  /** Makes room for `bytes` more at once, so that framing them neither grows nor copies the buffer. */
  reserve(bytes: number): void {
    this.room(this.end, bytes);
  }

  /** Appends records that were framed elsewhere, as they are. */
  addFramed(bytes: Uint8Array): void {
    this.room(this.end, bytes.length).set(bytes, this.end);
    this.end += bytes.length;
  }

  /** The buffer, grown if needed so that `bytes` more fit from `at` on. */
  private room(at: number, bytes: number): Buffer {
    if (at + bytes > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(MIN_BUFFER, 2 * this.buf.length, at + bytes));
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
      this.view = viewOf(grown);
    }
    return this.buf;
  }
}

/**
 * Frames records once, into a buffer of their own, for everything that stores or ships them (a
 * mirrored queue's leader writes the same bytes to its log and sends them to each mirror).
 */
export function frameRecords(records: readonly LogRecord[]): Framed {
  const w = new FrameWriter(framedSize(records));
  const lengths = records.map((r) => w.add(r));
  return { bytes: w.bytes, lengths };
}

/** The bytes that framing `records` takes, about: enough unless their headers are long (the buffer then grows). */
export function framedSize(records: readonly LogRecord[]): number {
  let bytes = 0;
  for (const r of records) bytes += r.type === 'enqueue' ? r.body.length + 128 + 3 * r.meta.id.length : r.type === 'mark' ? 32 : 16 + 8 * r.seqs.length;
  return bytes;
}

/** The last frozen headers object framed, and its text: most messages share one (see the frame codec). */
let lastFramed: { readonly headers: Headers; readonly text: string } | undefined;

function headersText(headers: Headers): string {
  if (lastFramed?.headers === headers) return lastFramed.text;
  const json = JSON.stringify(headers);
  const text = json === '{}' ? '' : json;
  // Only a frozen object cannot change behind the memo's back.
  if (Object.isFrozen(headers)) lastFramed = { headers, text };
  return text;
}

/** The bytes a message's headers take in its record (compact JSON: a control character takes six). */
export function recordHeaderBytes(headers: Headers): number {
  return Buffer.byteLength(headersText(headers));
}

function reasonCode(reason: RemoveReason): number {
  const code = REMOVE_REASONS.indexOf(reason);
  if (code < 0) throw new RangeError(`unknown remove reason '${String(reason)}'`);
  return code;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** A u32 byte length, then the UTF-8; ASCII (ids, most headers) is stored a byte per unit, with no call out. */
function writeText(b: Buffer, v: DataView, at: number, text: string): number {
  const from = at + 4;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) break;
    b[from + i] = c;
  }
  const n = i === text.length ? i : b.write(text, from);
  v.setUint32(at, n, true);
  return from + n;
}

export type Frame =
  | { readonly ok: true; readonly record: LogRecord; readonly length: number }
  /**
   * `cutShort`: the bytes end inside the record (a marker at `at` and its frame say it runs further);
   * `end`: where a marked record whose frame fits would end.
   */
  | { readonly ok: false; readonly reason: string; readonly cutShort?: true; readonly end?: number };

/** Reads the record framed at `at`, or says why there is no whole, intact record there. */
export function readFrame(buf: Buffer, at: number): Frame {
  const marked = buf.length - at >= 4 && buf.readUInt32LE(at) === MAGIC_U32;
  if (buf.length - at < FRAME_BYTES) return marked ? { ok: false, reason: 'cut short in its frame', cutShort: true } : { ok: false, reason: 'cut short in its frame' };
  if (!marked) return { ok: false, reason: 'no record marker' };
  const end = at + FRAME_BYTES + buf.readUInt32LE(at + 8);
  if (end > buf.length) return { ok: false, reason: 'cut short in its payload', cutShort: true };
  if (crc32(buf.subarray(at + 8, end)) !== buf.readUInt32LE(at + 4)) return { ok: false, reason: 'checksum mismatch', end };
  try {
    return { ok: true, record: decodePayload(new Cursor(buf.subarray(at + FRAME_BYTES, end))), length: end - at };
  } catch (err) {
    return { ok: false, reason: `undecodable (${err instanceof Error ? err.message : String(err)})`, end };
  }
}

export type ScanItem =
  | { readonly kind: 'record'; readonly record: LogRecord; readonly offset: number; readonly length: number }
  /** Damaged bytes up to the next intact record (or the end); `records` counts the record starts lost in them. */
  | { readonly kind: 'damage'; readonly offset: number; readonly length: number; readonly records: number; readonly reason: string };

/**
 * Walks a segment's bytes; after damage it resynchronises on the next marker that starts an intact
 * record. `torn`: these bytes are where writing stopped (the last segment, after a crash). There a
 * record whose frame runs past their end, or into the zeros they end with (a file system that grew the
 * file before the data landed), is either the torn tail, all that follows its marker being its own
 * unverified payload (where a binary body that holds framed records would pass them off as the log's),
 * or a record whose length was damaged, with intact ones after it. Only the second resynchronises: the
 * bytes must end with an intact record, as a torn body's do only if the tear fell on the boundary of a
 * record framed in it.
 */
export function* scanRecords(buf: Buffer, options: { readonly torn?: boolean } = {}): Generator<ScanItem> {
  let at = 0;
  while (at < buf.length) {
    const first = readFrame(buf, at);
    if (first.ok) {
      yield { kind: 'record', record: first.record, offset: at, length: first.length };
      at += first.length;
      continue;
    }
    let next = at;
    let records = 1;
    for (;;) {
      next = buf.indexOf(MAGIC, next + 1);
      if (next < 0) next = buf.length;
      if (next === buf.length || readFrame(buf, next).ok) break;
      records++;
    }
    const tail = () => first.cutShort || (first.end !== undefined && first.end > zerosFrom(buf));
    if (options.torn && tail() && !endsIntact(buf.subarray(next))) [next, records] = [buf.length, 1];
    yield { kind: 'damage', offset: at, length: next - at, records, reason: first.reason };
    at = next;
  }
}

/** Where the zeros the bytes end with begin (their length, if they do not end with a zero). */
function zerosFrom(buf: Buffer): number {
  let at = buf.length;
  while (at > 0 && buf[at - 1] === 0) at--;
  return at;
}

/** Whether the bytes end with an intact record (no bytes at all: trivially). */
function endsIntact(buf: Buffer): boolean {
  let end = 0;
  for (const item of scanRecords(buf)) end = item.kind === 'record' ? item.offset + item.length : -1;
  return end === buf.length;
}

/**
 * Framed bytes that must hold whole records only (a replicate frame, an append read back): the records
 * and their lengths; the reason of the first damage instead, where any byte is not part of a whole record.
 */
export function scanFramed(bytes: Uint8Array): { readonly records: LogRecord[]; readonly framed: Framed } | { readonly damage: string } {
  const records: LogRecord[] = [];
  const lengths: number[] = [];
  for (const item of scanRecords(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    if (item.kind === 'damage') return { damage: item.reason };
    records.push(item.record);
    lengths.push(item.length);
  }
  return { records, framed: { bytes, lengths } };
}

/** Bounds-checked reads over one payload: a field running past its end throws a RangeError. */
class Cursor {
  private at = 0;
  constructor(private readonly p: Buffer) {}

  u8(): number {
    return this.p.readUInt8(this.at++);
  }
  f64(): number {
    const v = this.p.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.at + n > this.p.length) throw new RangeError('field runs past the payload');
    const b = this.p.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  text(): string {
    return this.textBytes().toString('utf8');
  }
  textBytes(): Buffer {
    const n = this.p.readUInt32LE(this.at);
    this.at += 4;
    return this.bytes(n);
  }
  /** The payload must end here: bytes past a fixed-size record are damage. */
  end(): void {
    if (this.at !== this.p.length) throw new RangeError('bytes past the end of the record');
  }
  rest(): Buffer {
    return this.bytes(this.p.length - this.at);
  }
  seqs(): Seq[] {
    if ((this.p.length - this.at) % 8 !== 0) throw new RangeError('seq list of uneven length');
    const seqs: Seq[] = [];
    while (this.at < this.p.length) seqs.push(asSeq(this.f64()));
    return seqs;
  }
}

function decodePayload(c: Cursor): LogRecord {
  const type = c.u8();
  switch (type) {
    case ENQUEUE:
      return decodeEnqueue(c);
    case DELIVERED:
      return { type: 'delivered', seqs: c.seqs() };
    case RELEASED:
      return { type: 'released', seqs: c.seqs() };
    case REMOVE: {
      const reason = REMOVE_REASONS[c.u8()];
      if (reason === undefined) throw new RangeError('unknown remove reason');
      return { type: 'remove', reason, seqs: c.seqs() };
    }
    case MARK: {
      const record: LogRecord = { type: 'mark', epoch: c.f64(), lsn: c.f64() };
      c.end();
      return record;
    }
    default:
      throw new RangeError(`unknown record type ${type}`);
  }
}

/** The last headers parsed, and their bytes: a scan of a segment or a replicate frame meets the same ones in a row. */
let lastParsed: { readonly bytes: Buffer; readonly headers: Headers } | undefined;

/** Checksummed, and written by FrameWriter from a Headers value. Frozen: equal bytes share one object. */
function parseHeaders(bytes: Buffer): Headers {
  if (bytes.length === 0) return NO_HEADERS;
  if (lastParsed?.bytes.equals(bytes)) return lastParsed.headers;
  const headers = Object.freeze(JSON.parse(bytes.toString('utf8')) as Headers);
  // A copy: the bytes are a view into a segment or a frame that must not be kept alive.
  lastParsed = { bytes: Buffer.from(bytes), headers };
  return headers;
}

function decodeEnqueue(c: Cursor): LogRecord {
  const flags = c.u8();
  const seq = asSeq(c.f64());
  const enqueuedAt = c.f64();
  const priority = c.f64();
  const expiresAt = flags & HAS_EXPIRES ? c.f64() : undefined;
  const readyAt = flags & HAS_READY ? c.f64() : undefined;
  const id = asMessageId(c.text());
  const headers = parseHeaders(c.textBytes());
  const body = c.rest();
  const meta: MessageMeta = {
    seq, id, headers, priority, enqueuedAt, size: body.length,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(readyAt === undefined ? {} : { readyAt }),
  };
  return { type: 'enqueue', meta, body };
}
