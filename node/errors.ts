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
  constructor(message: string) { super('INVALID_ARGUMENT', message); }
}
/** Redeclaring a queue or exchange with different options, as RabbitMQ's PRECONDITION_FAILED. */
export class PreconditionFailed extends WarrenError {
  constructor(message: string) { super('PRECONDITION_FAILED', message); }
}
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
  constructor(what: string) { super('STOPPED', `${what} is stopped`); }
}
export class StorageError extends WarrenError {
  constructor(message: string, options?: { cause?: unknown }) { super('STORAGE', message, options); }
}
/** A write or an fdatasync failed (a full or failing disk): the log takes no more appends. */
export class DiskFailure extends StorageError {}
