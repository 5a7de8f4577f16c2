import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { propertyParams } from '../property-tests/params.ts';
import { decode, encode, FRAME_VERSION, FrameError, type Frame } from './frame.ts';

const headers = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3, noNullPrototype: true });
const body = fc.uint8Array({ maxLength: 64 });
const count = fc.nat({ max: 1_000_000 });
const ms = fc.nat({ max: 86_400_000 });

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('publish' as const), queue: fc.string(), entries: fc.array(fc.record({ id: fc.string(), headers, priority: fc.nat({ max: 255 }), delayMs: ms, ttlMs: ms, body }), { maxLength: 5 }) }),
  fc.record({
    type: fc.constant('publish-ack' as const),
    entries: fc.array(fc.oneof(
      fc.record({ ok: fc.constant(true as const), seq: count, duplicate: fc.boolean() }),
      fc.record({ ok: fc.constant(false as const), code: fc.string(), message: fc.string() }),
    ), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('deliver' as const), consumer: fc.string(), epoch: count, entries: fc.array(fc.record({ seq: count, id: fc.string(), headers, deliveryCount: count, body }), { maxLength: 5 }) }),
  fc.record({ type: fc.constant('settle' as const), consumer: fc.string(), epoch: count, entries: fc.array(fc.record({ seq: count, outcome: fc.constantFrom('ack' as const, 'requeue' as const, 'dead-letter' as const), delayMs: ms }), { maxLength: 5 }) }),
  fc.record({ type: fc.constant('control' as const), json: fc.json() }),
  fc.record({ type: fc.constant('error' as const), code: fc.string(), message: fc.string() }),
  fc.record({ type: fc.constant('replicate' as const), queue: fc.string(), epoch: count, session: fc.string(), from: count, reset: fc.boolean(), lsn: count, records: body }),
  fc.record({
    type: fc.constant('replicate-pair' as const), queue: fc.string(), epoch: count,
    to: fc.array(fc.record({ node: fc.string(), session: fc.string(), from: count, reply: fc.string() }), { maxLength: 3 }), lsn: count, records: body,
  }),
);

/** Bodies decode as views of the frame: compare them as plain arrays. */
const plain = (f: Frame): unknown => JSON.parse(JSON.stringify(f, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));

describe('wire frames', () => {
  it('every frame type round-trips', () => {
    fc.assert(fc.property(frame, (f) => {
      assert.deepEqual(plain(decode(encode(f))), plain(f));
    }), propertyParams('frame round trip', 500));
  });

  it('random bytes and mutated frames decode to a frame or a FrameError, never anything else', () => {
    const mutated = fc.tuple(frame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }))
      .map(([f, flips, cut]) => {
        const bytes = Buffer.from(encode(f));
        for (const [at, xor] of flips) bytes[at % bytes.length]! ^= xor;
        return cut === undefined ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
      });
    const huge = frame.map((f) => {
      // A length or count field set huge: the decoder must refuse it without allocating it.
      const bytes = Buffer.from(encode(f));
      if (bytes.length >= 8) bytes.writeUInt32BE(0xffffffff, 4);
      return bytes;
    });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated, huge), (bytes) => {
      try {
        decode(bytes);
      } catch (e) {
        assert.ok(e instanceof FrameError, `not a FrameError: ${String(e)}`);
      }
    }), propertyParams('frame fuzz', 2000));
  });

  it('refuses oversized frames, foreign bytes and other versions with the reason', () => {
    const ok = encode({ type: 'control', json: '{}' });
    assert.throws(() => decode(ok, ok.length - 1), (e: unknown) => e instanceof FrameError && e.reason === 'oversized');
    assert.throws(() => decode(new TextEncoder().encode('PUB foo 3')), (e: unknown) => e instanceof FrameError && e.reason === 'magic');
    const other = Buffer.from(ok);
    other[2] = FRAME_VERSION + 1;
    assert.throws(() => decode(other), (e: unknown) => e instanceof FrameError && e.reason === 'version');
    assert.throws(() => decode(ok.subarray(0, 5)), (e: unknown) => e instanceof FrameError && e.reason === 'truncated');
  });
});
