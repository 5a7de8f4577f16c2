// The message body every system carries: 1 KiB of ASCII, "<seq>:<publish time in ms>:" then filler.
// ASCII so that BullMQ (JSON job data) carries the very same 1024 bytes as the binary systems.

export const BODY_BYTES = 1024;

const FILLER = 0x78; // 'x'
const COLON = 0x3a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function encodeBody(seq: number, sentAt: number): Uint8Array {
  // A fresh buffer per message: a system may keep a reference to the body until it is delivered.
  const body = new Uint8Array(BODY_BYTES).fill(FILLER);
  encoder.encodeInto(`${seq}:${sentAt.toFixed(3)}:`, body);
  return body;
}

export interface Stamp {
  readonly seq: number;
  readonly sentAt: number;
}

/** undefined when the body is not one of ours (wrong size or header): counted as corrupt. */
export function decodeBody(body: Uint8Array): Stamp | undefined {
  if (body.length !== BODY_BYTES) return undefined;
  const first = body.indexOf(COLON);
  const second = first < 0 ? -1 : body.indexOf(COLON, first + 1);
  if (second < 0) return undefined;
  const seq = Number(decoder.decode(body.subarray(0, first)));
  const sentAt = Number(decoder.decode(body.subarray(first + 1, second)));
  return Number.isInteger(seq) && seq >= 0 && Number.isFinite(sentAt) ? { seq, sentAt } : undefined;
}
