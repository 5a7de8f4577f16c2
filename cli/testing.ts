// Helpers for tests that run the real `warren` command as a child process, from the repo's root.
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const command = (args: readonly string[]) => [process.execPath, ['--import', 'tsx', 'cli/warren.ts', ...args]] as const;

/** The caller's WARREN_* settings (a cluster's URL, a data dir) would point the command somewhere else. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARREN_')));

/** A bound, so that a command that hangs fails its test instead of holding it. */
const COMMAND_LIMIT_MS = 60_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command to its end. */
export function warren(...args: string[]): Promise<CliResult> {
  const [file, argv] = command(args);
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: root, env, timeout: COMMAND_LIMIT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `warren node ...`, running: its ready line, and its exit code once it ends. */
export interface RunningNode {
  readonly ready: { readonly ready: true; readonly nodeId: string; readonly pid: number; readonly http?: string };
  /** Sends `signal` and resolves with the exit code; one that does not end within the limit is killed, and this rejects. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  /** Ends the process if it still runs (SIGKILL, by its pid): cleanup after a failed test. */
  kill(): Promise<void>;
}

/** Starts `warren node ...` and waits for its ready line. */
export async function startNode(...args: string[]): Promise<RunningNode> {
  const [file, argv] = command(['node', ...args]);
  const child = spawn(file, argv, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const lines = createInterface({ input: child.stdout });
  const firstLine = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${COMMAND_LIMIT_MS} ms; stderr: ${stderr}`)), COMMAND_LIMIT_MS);
    lines.once('line', (line) => { clearTimeout(timer); resolve(line); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`warren node exited with ${code} before it was ready; stderr: ${stderr}`)); });
  });
  const stop = async (signal: NodeJS.Signals) => {
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`warren node did not end within ${COMMAND_LIMIT_MS} ms of ${signal}`)), COMMAND_LIMIT_MS); });
    try {
      return await Promise.race([exited, limit]);
    } catch (e) {
      await kill();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    return { ready: JSON.parse(await firstLine) as RunningNode['ready'], stop, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}
