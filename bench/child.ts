// One run in a fresh process: a clean heap per run, the Warren node's RSS measured alone, and a
// hung run that the orchestrator can kill without taking the suite down.
import { drive, type DriveOptions, type DriveResult } from './drive.ts';
import { isJob, type Job, type Reply } from './protocol.ts';
import { entry } from './systems/registry.ts';
import type { System, Topology } from './types.ts';
import { engineWarmupN, warmup, warmupName, WARMUP_N, workloads } from './workloads.ts';

async function once(system: System, name: string, topology: Topology, options: DriveOptions): Promise<DriveResult> {
  const session = await system.open(name, topology);
  try {
    return await drive(session, options);
  } finally {
    await session.close();
  }
}

async function run(job: Job): Promise<Reply> {
  const { load } = entry(job.system);
  if (!load) return { ok: false, error: `${job.system} cannot run` };
  const system = await load();
  const workload = workloads[job.workload];
  if (system.warmup !== 'session') {
    const n = system.warmup === 'engine' ? engineWarmupN(workload.topology) : WARMUP_N;
    const warm = await once(system, warmupName(job.name), workload.topology, warmup(workload.topology, n));
    if (!warm.complete) return { ok: false, error: `warm-up incomplete: ${warm.distinct} of ${warm.n * warm.queues} delivered` };
  }
  const { options, cleanup } = workload.drive(job.params);
  try {
    return { ok: true, result: await once(system, job.name, workload.topology, options) };
  } finally {
    cleanup();
  }
}

function send(reply: Reply): void {
  // The run is over once the reply is out: a client library's lingering timers must not keep the process.
  process.send?.(reply, () => process.exit(0));
}

/** The message and where it was thrown: enough for the report to point at the failing code. */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const frame = e.stack?.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim();
  return frame ? `${e.message} (${frame})` : e.message;
}

process.once('message', (message: unknown) => {
  if (!isJob(message)) return send({ ok: false, error: 'malformed job' });
  run(message).then(send, (e: unknown) => send({ ok: false, error: describe(e) }));
});
