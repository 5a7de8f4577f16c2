// Typed errors of the public API. Every error a user can see is a WarrenError with a stable `code`.
export type ErrorCode =
  | 'QUEUE_NOT_FOUND'
  | 'EXCHANGE_NOT_FOUND'
  | 'INVALID_NAME'
  | 'INVALID_ARGUMENT'
  | 'PRECONDITION_FAILED'
  | 'OVERFLOW'
  | 'NOT_CONFIRMED'
  | 'MAILBOX_FULL'
  | 'STOPPED'
  | 'STORAGE';

export class WarrenError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class QueueNotFound extends WarrenError {
  constructor(readonly queue: string) { super('QUEUE_NOT_FOUND', `queue '${queue}' does not exist`); }
}
export class ExchangeNotFound extends WarrenError {
  constructor(readonly exchange: string) { super('EXCHANGE_NOT_FOUND', `exchange '${exchange}' does not exist`); }
}
export class InvalidName extends WarrenError {
  constructor(kind: string, name: unknown, why: string) {
    super('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name)}: ${why}`);
  }
}
export class InvalidArgument extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) { super('INVALID_ARGUMENT', message, options); }
}
/** Redeclaring a queue or exchange with different options, as RabbitMQ's PRECONDITION_FAILED. */
export class PreconditionFailed extends WarrenError {
  constructor(message: string) { super('PRECONDITION_FAILED', message); }
}
/** A delete with `ifUnused` of a queue that has consumers. */
export const queueInUse = (queue: string, consumers: number) => new PreconditionFailed(`queue '${queue}' has ${consumers} consumer(s) (ifUnused)`);
export class Overflow extends WarrenError {
  constructor(readonly queue: string, readonly maxLength: number) {
    super('OVERFLOW', `queue '${queue}' is full (maxLength ${maxLength}, overflow 'reject-publish')`);
  }
}
export class NotConfirmed extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) { super('NOT_CONFIRMED', message, options); }
}
export class MailboxFull extends WarrenError {
  constructor(readonly actor: string, readonly capacity: number) {
    super('MAILBOX_FULL', `mailbox of '${actor}' is full (${capacity} messages)`);
  }
}
export class Stopped extends WarrenError {
  constructor(what: string, options?: { cause?: unknown }) { super('STOPPED', `${what} is stopped`, options); }
}
export class StorageError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) { super('STORAGE', message, options); }
}
/** A write or an fdatasync failed (a full or failing disk): the log takes no more appends. */
export class DiskFailure extends StorageError {}

const BY_CODE: Record<ErrorCode, new (...args: never[]) => WarrenError> = {
  QUEUE_NOT_FOUND: QueueNotFound, EXCHANGE_NOT_FOUND: ExchangeNotFound, INVALID_NAME: InvalidName,
  INVALID_ARGUMENT: InvalidArgument, PRECONDITION_FAILED: PreconditionFailed, OVERFLOW: Overflow,
  NOT_CONFIRMED: NotConfirmed, MAILBOX_FULL: MailboxFull, STOPPED: Stopped, STORAGE: StorageError,
};

/**
 * An error another node answered with, as the class of its code, so that `instanceof Overflow` holds
 * wherever the queue lives. It has the other node's message; fields of the class (Overflow.maxLength,
 * ...) do not travel. A code this node does not know (a frame the other node refused) is NotConfirmed.
 */
export function remoteError(code: string, message: string): WarrenError {
  if (!Object.hasOwn(BY_CODE, code)) return new NotConfirmed(`refused by the queue's node (${code}): ${message}`);
  // WarrenError's constructor, with the class as new.target: the prototype and name of the class, the message as sent.
  return Reflect.construct(WarrenError, [code, message], BY_CODE[code as ErrorCode]) as WarrenError;
}
