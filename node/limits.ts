import { MAX_FRAME_BYTES, headerBytes } from '../transport/frame.ts';
import { recordHeaderBytes } from '../storage/record-codec.ts';
import type { Headers } from '../storage/storage.ts';
import { CONTENT_TYPE, OWN_CONTENT_TYPES } from './body.ts';

/** Largest body accepted; bigger ones are refused with InvalidArgument before they reach a queue. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** A routing key or binding pattern, at most (AMQP's short string, as in RabbitMQ). */
export const MAX_ROUTING_KEY_BYTES = 255;

/** Why `key` cannot be a routing key or binding pattern (`what`), or undefined. */
export function badRoutingKey(what: string, key: unknown): string | undefined {
  if (typeof key !== 'string') return `${what} must be a string`;
  const bytes = Buffer.byteLength(key);
  return bytes > MAX_ROUTING_KEY_BYTES ? `${what} of ${bytes} bytes is over the limit of ${MAX_ROUTING_KEY_BYTES}` : undefined;
}

/** A frame's batch (messages, records), at most, unless one message alone is larger. */
export const FRAME_BATCH_BYTES = 512 * 1024;

/**
 * Room a frame takes around one body in distributed mode (the message id, the queue's and nodes' names,
 * the frame's and the log record's own fields): a message travels over NATS when its body, its headers
 * and this fit in the server's max payload.
 */
export const FRAME_ROOM = 4 * 1024;

/** The smallest max payload of a NATS server that Warren's frames fit in: a batch and the frame around it. */
export const MIN_MAX_PAYLOAD = FRAME_BATCH_BYTES + FRAME_ROOM;

/**
 * Why a message cannot travel over NATS, if it cannot: its body and headers must fit in one NATS
 * message with its frame around it (FRAME_ROOM), in the frames that carry it to the queue, to its
 * consumers and to the mirrors. Frames carry headers as they are, log records as JSON: the larger
 * counts; a node's own content-type alone fits in FRAME_ROOM. `maxPayload` undefined: no NATS (an
 * embedded node), only the body's own limit.
 */
export function overPayload(bodyBytes: number, headers: Headers | undefined, maxPayload: number | undefined): string | undefined {
  if (bodyBytes > MAX_BODY_BYTES) return `body of ${bodyBytes} bytes is over the limit of ${MAX_BODY_BYTES}`;
  if (maxPayload === undefined) return undefined;
  const keys = headers === undefined ? [] : Object.keys(headers);
  const own = keys.length === 1 && keys[0] === CONTENT_TYPE && OWN_CONTENT_TYPES.has(headers![CONTENT_TYPE]!);
  const counted = keys.length > 0 && !own ? headers : undefined;
  const size = bodyBytes + (counted ? Math.max(headerBytes(counted), recordHeaderBytes(counted)) : 0);
  const limit = Math.min(maxPayload, MAX_FRAME_BYTES) - FRAME_ROOM;
  if (size <= limit) return undefined;
  return `body of ${bodyBytes} bytes${counted ? ' with its headers' : ''} is over the ${limit} bytes that one NATS message carries (the server's max payload less ${FRAME_ROOM} for the frame)`;
}
