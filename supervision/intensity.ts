// Restart intensity, as in Erlang/OTP: at most maxRestarts restarts within withinMs; one more and the
// supervisor gives up on the child and escalates. Pure: the caller keeps the history and the clock.
export interface IntensityOptions {
  readonly maxRestarts: number;
  readonly withinMs: number;
}

export type RestartHistory = readonly number[];

export function recordRestart(history: RestartHistory, now: number, opts: IntensityOptions): { history: RestartHistory; exceeded: boolean } {
  const recent = [...history.filter((t) => now - t < opts.withinMs), now];
  return { history: recent, exceeded: recent.length > opts.maxRestarts };
}
