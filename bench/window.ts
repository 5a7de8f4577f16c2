// Publishing with at most `maxInFlight` unconfirmed messages: the publisher-confirm window of W1.

/**
 * Calls `publish(seq)` for seq = 0..n-1, never with more than `maxInFlight` promises pending.
 * Rejects with the first failed confirm (the messages still in flight are left to the caller's close).
 */
export function publishAll(n: number, maxInFlight: number, publish: (seq: number) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let inFlight = 0;
    let failed = false;
    const pump = (): void => {
      while (!failed && inFlight < maxInFlight && next < n) {
        const seq = next++;
        inFlight++;
        publish(seq).then(settled, fail);
      }
      if (!failed && inFlight === 0 && next === n) resolve();
    };
    const settled = (): void => {
      inFlight--;
      pump();
    };
    const fail = (error: unknown): void => {
      failed = true;
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    pump();
  });
}
