// What the orchestrator and a run's child process say to each other over the IPC channel.
import type { DriveResult } from './drive.ts';
import type { SystemId } from './systems/registry.ts';
import type { Params, WorkloadId } from './workloads.ts';

export interface Job {
  readonly system: SystemId;
  readonly workload: WorkloadId;
  /** Unique per run: every queue, stream or key the run creates is named from it. */
  readonly name: string;
  readonly params: Params;
}

export type Reply = { readonly ok: true; readonly result: DriveResult } | { readonly ok: false; readonly error: string };

export function isReply(x: unknown): x is Reply {
  if (typeof x !== 'object' || x === null || !('ok' in x)) return false;
  return x.ok === true ? 'result' in x : x.ok === false && 'error' in x && typeof x.error === 'string';
}

export function isJob(x: unknown): x is Job {
  return typeof x === 'object' && x !== null && 'system' in x && 'workload' in x && 'name' in x && 'params' in x;
}
