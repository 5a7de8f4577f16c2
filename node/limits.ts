/** Largest body accepted; bigger ones are refused with InvalidArgument before they reach a queue. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
