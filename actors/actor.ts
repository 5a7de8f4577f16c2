// A thin typed layer over nact: typed refs, tell, ask with timeout, spawn with a behaviour, bounded
// mailboxes and dead letters. The actor runtime itself (mailbox processing, supervision tree) is nact's.
import nact from 'nact';
import type { Ref, SupervisionActorFunc } from 'nact';
import { MailboxFull, Stopped } from '../node/errors.ts';
import { DeadLetters } from './dead-letters.ts';
import { Mailbox, unbounded, type MailboxOptions } from './mailbox.ts';

export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly name: string;
}

/** What nact calls on a crash: decides resume / reset / stop / escalate (see supervision/). */
export type CrashHandler<M> = SupervisionActorFunc<M, Ref<unknown>, Ref<unknown>>;

export interface Behavior<S, M> {
  /** The state at start and after every restart. */
  init(ctx: ActorContext<M>): S;
  receive(state: S, msg: M, ctx: ActorContext<M>): S | Promise<S>;
  onCrash?: CrashHandler<M>;
  /** Runs once the actor has stopped, with what was left in its mailbox. */
  afterStop?(state: S, leftover: readonly M[]): void;
  mailbox?: MailboxOptions;
}

export class ActorRef<M> {
  private stopped = false;

  constructor(
    readonly name: string,
    /** The nact reference, for parents spawning children and for supervision. */
    readonly nactRef: Ref<M>,
    private readonly mailbox: Mailbox<M>,
    private readonly deadLetters: DeadLetters,
  ) {}

  get alive(): boolean {
    return !this.stopped;
  }

  get mailboxSize(): number {
    return this.mailbox.size;
  }

  /** Sends without waiting. A stopped actor's messages go to dead letters, never nowhere. */
  tell(msg: M): void {
    if (this.stopped) return this.deadLetters.publish({ actor: this.name, reason: 'stopped', message: msg });
    if (!this.mailbox.tryEnqueue(msg)) {
      if (this.mailbox.options.overflow === 'reject') throw new MailboxFull(this.name, this.mailbox.options.capacity);
      return this.deadLetters.publish({ actor: this.name, reason: 'mailbox-full', message: msg });
    }
    nact.dispatch(this.nactRef, msg);
  }

  /** Request/response: `make` builds the message around a reply callback; rejects after timeoutMs. */
  ask<R>(make: (reply: Reply<R>) => M, timeoutMs: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ask to '${this.name}' timed out after ${timeoutMs} ms`)), timeoutMs);
      const reply: Reply<R> = (result) => {
        clearTimeout(timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      try {
        this.tell(make(reply));
      } catch (e) {
        clearTimeout(timer);
        reject(e);
      }
      if (!this.alive) { clearTimeout(timer); reject(new Stopped(`actor '${this.name}'`)); }
    });
  }

  stop(): void {
    if (this.stopped) return;
    // Stopped from now on: later tells are dead letters at once and asks fail fast. What was told
    // before reaches dead letters when nact calls afterStop.
    this.stopped = true;
    nact.stop(this.nactRef);
  }

  /** Called by the spawn wrapper once nact has stopped the actor. */
  markStopped(): void {
    this.stopped = true;
  }
}

/** How long node-internal asks wait before giving up; user-facing calls have their own limits. */
export const DEFAULT_ASK_TIMEOUT_MS = 30_000;

export type Reply<R> = (result: R | Error) => void;

export class ActorSystem {
  readonly deadLetters = new DeadLetters();
  readonly root: Ref<never>;
  /** Actors not yet stopped, in spawn order (a parent always before its children). */
  private readonly live = new Set<{ stop(): void }>();

  constructor(name: string) {
    this.root = nact.start(name);
  }

  spawn<S, M>(parent: Ref<unknown>, name: string, behavior: Behavior<S, M>): ActorRef<M> {
    const mailbox = new Mailbox<M>(behavior.mailbox ?? unbounded);
    let ref: ActorRef<M> | undefined;
    // init runs inside nact's constructor, before the ref exists: self is read lazily.
    const context: ActorContext<M> = { get self() { return ref!; }, name };
    const ctx = () => context;
    const nactRef = nact.spawn(
      parent,
      (state: S, msg: M) => {
        mailbox.taken();
        return behavior.receive(state, msg, ctx());
      },
      name,
      {
        initialStateFunc: () => behavior.init(ctx()),
        ...(behavior.onCrash ? { onCrash: behavior.onCrash } : {}),
        afterStop: (state: S) => {
          ref!.markStopped();
          this.live.delete(ref!);
          // Our mailbox rather than nact's: nact's misses the message whose turn it had scheduled
          // and those told while it was stopping.
          const leftover = mailbox.drain();
          behavior.afterStop?.(state, leftover);
          for (const message of leftover) this.deadLetters.publish({ actor: name, reason: 'stopped', message });
        },
      } as never,
    ) as Ref<M>;
    ref = new ActorRef<M>(name, nactRef, mailbox, this.deadLetters);
    this.live.add(ref);
    return ref;
  }

  /** A stateless parent whose only job is to supervise its children. */
  supervisor(parent: Ref<unknown>, name: string, onCrash: CrashHandler<unknown>): Ref<unknown> {
    // A child stopped while its supervisor was deciding (a backoff sleeps before a restart) is gone:
    // nact would look it up to restart it, find nothing and throw. The decision is moot then.
    const decide: CrashHandler<unknown> = async (msg, error, ctx, child) => {
      const directive = await onCrash(msg, error, ctx, child);
      return child && !this.alive(child) ? (ctx.resume as symbol) : directive;
    };
    // nact.spawnStateless would replace onCrash with 'resume', so this is a stateful actor without state.
    const handle = { stop: () => nact.stop(ref) };
    const ref = nact.spawn(parent, () => undefined, name, { onCrash: decide, afterStop: () => this.live.delete(handle) } as never) as Ref<unknown>;
    this.live.add(handle);
    return ref;
  }

  private alive(ref: Ref<unknown>): boolean {
    for (const actor of this.live) if (actor instanceof ActorRef && actor.nactRef === ref) return actor.alive;
    return false;
  }

  stop(): void {
    // nact's own stop never reaches the children (it looks the concrete actors up as if they were
    // references, and finds nothing), so their afterStop would never run and their refs would stay
    // alive, telling into nowhere. Stop every actor here, children before parents: a child can only be
    // found through its parent.
    for (const actor of [...this.live].reverse()) actor.stop();
    nact.stop(this.root);
  }
}
