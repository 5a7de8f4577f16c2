// Exponential backoff with full jitter: attempt 1 waits up to minMs, each further attempt doubles the
// ceiling up to maxMs. Jitter spreads the retries of many failing actors apart.
export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  /** Fraction of the delay that is random: 0 = none, 1 = anywhere in [0, ceiling]. */
  readonly jitter: number;
}

export const defaultBackoff: BackoffOptions = { minMs: 100, maxMs: 30_000, jitter: 0.5 };

/** `random` is injectable so that tests and property tests are deterministic. */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxMs, opts.minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (1 - opts.jitter * random()));
}
