// Supervisor strategies and decisions, mapped onto nact's supervision actions. A strategy says what
// happens to a crashing child (the decision) and to its siblings (one-for-one vs all-for-one), and
// bounds restarts by intensity, with a backoff before each restart.
import type { Ref, SupervisionContext } from 'nact';
import type { CrashHandler } from '../actors/actor.ts';
import { InvalidArgument } from '../node/errors.ts';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.ts';
import { recordRestart, type IntensityOptions, type RestartHistory } from './intensity.ts';

const DIRECTIVES = ['restart', 'resume', 'stop', 'escalate'] as const;
export type Directive = typeof DIRECTIVES[number];

export interface Strategy {
  readonly kind: 'one-for-one' | 'all-for-one';
  /** What to do about an error; the default restarts. */
  readonly decide: (error: unknown) => Directive;
  readonly intensity: IntensityOptions;
  /** What a restart becomes once intensity is exceeded: by default the fault goes up the tree. */
  readonly exhausted: Directive;
  readonly backoff: BackoffOptions;
}

export const defaultIntensity: IntensityOptions = { maxRestarts: 10, withinMs: 10_000 };

export function oneForOne(opts: Partial<Omit<Strategy, 'kind'>> = {}): Strategy {
  return { kind: 'one-for-one', decide: () => 'restart', intensity: defaultIntensity, exhausted: 'escalate', backoff: defaultBackoff, ...opts };
}

export function allForOne(opts: Partial<Omit<Strategy, 'kind'>> = {}): Strategy {
  return { ...oneForOne(opts), kind: 'all-for-one' };
}

export interface Fault {
  readonly error: unknown;
  readonly message: unknown;
  /** The child that escalated, when a supervisor is deciding about a child. */
  readonly child?: string;
  /** The final directive, after intensity (see Strategy.exhausted). */
  readonly directive: Directive;
  /** The directive is Strategy.exhausted: the decision was to restart, but the child restarted too often. */
  readonly exhausted: boolean;
  /** Strategy.decide threw or answered no directive: the child stops, and what it failed on was not judged. */
  readonly undecided: boolean;
}

/** A user's decide that throws, or answers no directive, stops the child; the fault says why. */
function decide(strategy: Strategy, error: unknown): { directive: Directive; error: unknown; undecided: boolean } {
  let answer: unknown;
  try {
    answer = strategy.decide(error);
  } catch (e) {
    return { directive: 'stop', undecided: true, error: new InvalidArgument(`supervision.decide threw: ${(e as Error)?.message ?? String(e)}`, { cause: error }) };
  }
  if (DIRECTIVES.includes(answer as Directive)) return { directive: answer as Directive, error, undecided: false };
  return { directive: 'stop', undecided: true, error: new InvalidArgument(`supervision.decide answered ${JSON.stringify(answer)}, not one of ${DIRECTIVES.join(', ')}`, { cause: error }) };
}

/**
 * Builds the nact crash handler for a strategy. `onFault` sees every decision (for counters, logs and
 * for turning a consumer's decision into a queue operation) before nact carries it out.
 */
export function crashHandler<M>(strategy: Strategy, onFault: (fault: Fault) => void | Promise<void> = () => {}): CrashHandler<M> {
  // One-for-one children fail apart: each has its own restart history, so a child that keeps crashing
  // does not use up the intensity of its siblings. All-for-one restarts them together: one history.
  const histories = new Map<string, RestartHistory>();
  return async (msg, crash, ctx: SupervisionContext<M, Ref<unknown>>, child) => {
    const decision = decide(strategy, crash);
    const { error, undecided } = decision;
    let { directive } = decision;
    let exhausted = false;
    const key = strategy.kind === 'one-for-one' && child ? nameOf(child) : '';
    let history = histories.get(key) ?? [];
    if (directive === 'restart') {
      const now = Date.now();
      const r = recordRestart(history, now, strategy.intensity);
      history = r.history;
      for (const [k, h] of histories) if (now - h[h.length - 1]! >= strategy.intensity.withinMs) histories.delete(k);
      histories.set(key, history);
      if (r.exceeded) {
        directive = strategy.exhausted;
        exhausted = true;
      }
    }
    await onFault({ error, message: msg, directive, exhausted, undecided, ...(child ? { child: nameOf(child) } : {}) });
    if (directive === 'restart' && child) {
      // A supervisor restarting a child waits its backoff first; a child restarting itself has its
      // backoff applied by whoever redelivers its work (a consumer's nack carries the delay). The
      // delay grows with the restarts inside the intensity window, so a quiet spell resets it.
      await sleep(backoffDelay(history.length, strategy.backoff));
    }
    return toNact(directive, strategy.kind, ctx, child !== undefined);
  };
}

function toNact<M>(d: Directive, kind: Strategy['kind'], ctx: SupervisionContext<M, Ref<unknown>>, forChild: boolean): symbol {
  const all = kind === 'all-for-one';
  switch (d) {
    // An actor deciding about itself resumes with its state as it was. nact leaves an escalating child
    // suspended, though: it can only be reset or stopped, so a supervisor's resume = reset.
    case 'resume': return (forChild ? (all ? ctx.resetAllChildren : ctx.resetChild) : ctx.resume) as symbol;
    case 'restart': return (forChild ? (all ? ctx.resetAllChildren : ctx.resetChild) : ctx.reset) as symbol;
    case 'stop': return (forChild ? (all ? ctx.stopAllChildren : ctx.stopChild) : ctx.stop) as symbol;
    case 'escalate': return ctx.escalate as symbol;
  }
}

function nameOf(ref: Ref<unknown>): string {
  return String((ref as unknown as { name?: string }).name ?? 'child');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
