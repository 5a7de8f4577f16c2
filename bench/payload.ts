// The message body every system carries: 1 KiB of ASCII, "<seq>:<publish time in ms>:" then filler.
// ASCII so that BullMQ (JSON job data) carries the very same 1024 bytes as the binary systems.

export const BODY_BYTES = 1024;

const COLON = 0x3a;
const DOT = 0x2e;
const ZERO = 0x30;
/** Every body starts as a copy of this: one memcpy, no fill. */
const TEMPLATE = new Uint8Array(BODY_BYTES).fill(0x78); // 'x'

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

// The harness shares a process with an embedded Warren, so that its own work per message (a body out,
// a body in) is kept to plain byte loops: it should not be what a run measures.
export function encodeBody(seq: number, sentAt: number): Uint8Array {
  // A fresh body per message (a system may keep a reference to it until it is delivered), from Node's
  // buffer pool: a standalone 1 KiB allocation cost more than the rest of this function.
  const body = Buffer.allocUnsafe(BODY_BYTES);
  body.set(TEMPLATE);
  let at = writeDigits(body, 0, seq);
  body[at++] = COLON;
  const micros = Math.round(sentAt * 1000);
  at = writeDigits(body, at, Math.floor(micros / 1000));
  body[at++] = DOT;
  const fraction = micros % 1000;
  body[at++] = ZERO + Math.floor(fraction / 100);
  body[at++] = ZERO + (Math.floor(fraction / 10) % 10);
  body[at++] = ZERO + (fraction % 10);
  body[at] = COLON;
  return body;
}

/** Writes a non-negative integer in decimal at `at`; returns where it ends. */
function writeDigits(body: Uint8Array, at: number, value: number): number {
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  for (let i = digits - 1, v = value; i >= 0; i--, v = Math.floor(v / 10)) body[at + i] = ZERO + (v % 10);
  return at + digits;
}

export interface Stamp {
  readonly seq: number;
  readonly sentAt: number;
}

/** undefined when the body is not one of ours (wrong size or header): counted as corrupt. */
export function decodeBody(body: Uint8Array): Stamp | undefined {
  if (body.length !== BODY_BYTES) return undefined;
  const seq = digitsAt(body, 0);
  if (seq === undefined || body[seq.end] !== COLON) return undefined;
  const whole = digitsAt(body, seq.end + 1);
  if (whole === undefined || body[whole.end] !== DOT) return undefined;
  const fraction = digitsAt(body, whole.end + 1);
  if (fraction === undefined || body[fraction.end] !== COLON || fraction.end - whole.end - 1 !== 3) return undefined;
  // An exact integer of microseconds over 1000 rounds as Number() of the decimal text would.
  return { seq: seq.value, sentAt: (whole.value * 1000 + fraction.value) / 1000 };
}

/** The decimal number that starts at `at` (at least one digit, at most 15: exact as a double). */
function digitsAt(body: Uint8Array, at: number): { value: number; end: number } | undefined {
  let value = 0;
  let i = at;
  for (; i < body.length && i - at < 16; i++) {
    const d = body[i]! - ZERO;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
  }
  return i === at || i - at > 15 ? undefined : { value, end: i };
}
