/** Largest body accepted; bigger ones are refused with InvalidArgument before they reach a queue. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

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
