// Control requests between a node and a queue's leader (JSON in CONTROL frames: they are rare), and
// how a node turns a frame it cannot accept into an error reply.
import { z } from 'zod';
import { remoteError } from '../node/errors.ts';
import { NODE_ID } from '../node/ids.ts';
import { FRAME_BATCH_BYTES } from '../node/limits.ts';
import { decode, encode, FrameError, type Frame } from '../transport/frame.ts';
import type { Transport, TransportMessage } from '../transport/transport.ts';

const consumer = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/);

export const controlRequest = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('subscribe'), consumer, node: z.string().regex(NODE_ID), prefetch: z.number().int().positive().max(65_535) }),
  z.strictObject({ op: z.literal('cancel'), consumer, unseen: z.array(z.number().int().nonnegative()).max(65_535).optional() }),
  z.strictObject({ op: z.literal('reconcile'), consumer, holds: z.array(z.number().int().nonnegative()).max(65_535) }),
  z.strictObject({ op: z.literal('stats') }),
  z.strictObject({ op: z.literal('purge') }),
  z.strictObject({ op: z.literal('delete'), ifUnused: z.boolean(), ifEmpty: z.boolean() }),
]);
export type ControlRequest = z.infer<typeof controlRequest>;

/** To a mirror, on its replicate subject (replication/): the highest seq it holds of a queue, for a takeover. */
export const positionRequest = z.strictObject({ op: z.literal('position'), queue: z.string().min(1).max(255) });
export type PositionRequest = z.infer<typeof positionRequest>;

const streamPosition = z.strictObject({ epoch: z.number().int().nonnegative(), lsn: z.number().int().nonnegative() });

/**
 * To a mirror, from a new leader (of `epoch`) that held the stream up to `from` when it took over: if
 * the mirror holds exactly that much, it follows the new leader's `session` from there, without a snapshot.
 */
export const resumeRequest = z.strictObject({ op: z.literal('resume'), queue: z.string().min(1).max(255), epoch: z.number().int().positive(), session: z.string().min(1).max(64), from: streamPosition });
export type ResumeRequest = z.infer<typeof resumeRequest>;

/** What a mirror takes on its replicate subject besides frames. */
export const mirrorRequest = z.discriminatedUnion('op', [positionRequest, resumeRequest]);
export type MirrorRequest = z.infer<typeof mirrorRequest>;

export const controlReply = z.strictObject({ ok: z.literal(true), known: z.boolean().optional(), stats: z.record(z.string(), z.unknown()).optional(), position: z.strictObject({
  seq: z.number().int().nonnegative(),
  stream: streamPosition.optional(),
}).optional(), count: z.number().int().nonnegative().optional(), resumed: z.boolean().optional() });
export type ControlReply = z.infer<typeof controlReply>;

/**
 * From a queue's node to consumers elsewhere, which then make sure it knows them (they subscribe
 * again if not): 'forgotten', to one consumer on its deliver subject, when the node took the
 * consumer's node for down (a pause, a stall) and gave its messages back; 'opened', to all on the
 * queue's opened subject, when the queue opened there (its node restarted), knowing no consumer.
 */
export const consumerNotice = z.strictObject({ op: z.enum(['forgotten', 'opened']) });
export type ConsumerNotice = z.infer<typeof consumerNotice>;

export const control = (value: ControlRequest | PositionRequest | ResumeRequest | ControlReply | ConsumerNotice): Uint8Array => encode({ type: 'control', json: JSON.stringify(value) });

/** An error reply: what a requester gets instead of an answer. */
export const errorFrame = (code: string, message: string): Uint8Array => encode({ type: 'error', code, message });

/** How a server on a node's subjects answers: replies where there is a reply subject; refusals counted by reason. */
export class Replier {
  constructor(private readonly transport: Transport, private readonly rejected: Map<string, number>) {}

  reply(m: TransportMessage, data: Uint8Array): void {
    if (m.reply) this.transport.publish(m.reply, data);
  }

  count(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  refuse(m: TransportMessage, reason: string, message: string): void {
    this.count(reason);
    this.reply(m, errorFrame('BAD_FRAME', message));
  }
}

/** Decodes a reply of the expected type; an ERROR reply or anything else becomes a thrown error. */
export function expectReply<T extends Frame['type']>(bytes: Uint8Array, type: T): Extract<Frame, { type: T }> {
  const f = decode(bytes);
  if (f.type === 'error') throw remoteError(f.code, f.message);
  if (f.type !== type) throw new FrameError('type', `expected a ${type} reply, got ${f.type}`);
  return f as Extract<Frame, { type: T }>;
}

/** Parses a CONTROL reply. */
export function controlOk(bytes: Uint8Array): ControlReply {
  const r = controlReply.safeParse(JSON.parse(expectReply(bytes, 'control').json));
  if (!r.success) throw new FrameError('malformed', 'a control reply that does not parse');
  return r.data;
}

/** Splits a batch so that no frame holds more than FRAME_BATCH_BYTES of it (unless one item alone is larger). */
export function chunks<T>(items: readonly T[], size: (t: T) => number, limit = FRAME_BATCH_BYTES): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item) + 64;
    if (current.length && bytes + n > limit) { out.push(current); current = []; bytes = 0; }
    current.push(item);
    bytes += n;
  }
  if (current.length) out.push(current);
  return out;
}
