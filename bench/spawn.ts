// The orchestrator's side of a run: fork the child, hand it the job, wait for its reply or kill it.
import { fork } from 'node:child_process';
import { entryPoint, childArgs } from './entry-point.ts';
import { isReply, type Job, type Reply } from './protocol.ts';

const CHILD = entryPoint('./child.ts', import.meta.url);
const TAIL_CHARS = 600;

export function runInChild(job: Job, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const child = fork(CHILD, [], { execArgv: [...childArgs], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    // The child's own output would break the progress bar; keep its tail for the error message.
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let reply: Reply | undefined;
    const timer = setTimeout(() => {
      reply ??= { ok: false, error: `killed after ${Math.round(timeoutMs / 1000)} s without finishing` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: unknown) => {
      reply ??= isReply(m) ? m : { ok: false, error: 'malformed reply from the run process' };
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(reply ?? { ok: false, error: `run process exited (${signal ?? `code ${code}`}) without a result: ${tail.trim().split('\n').slice(-3).join(' | ')}` });
    });
    child.send(job);
  });
}
