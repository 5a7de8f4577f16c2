// The orchestrator's side of a run: fork the child, hand it the job, wait for its reply or kill it.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isReply, type Job, type Reply } from './protocol.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
// The child is TypeScript too: load it through tsx whether or not the parent was started by tsx.
const TSX = import.meta.resolve('tsx');
const TAIL_CHARS = 600;

export function runInChild(job: Job, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const child = fork(CHILD, [], { execArgv: ['--import', TSX], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
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
