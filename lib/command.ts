/** Running external commands (mount(8), lfs(1)): the narrow seam tests replace with a recording fake. */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command; never throws for a non-zero exit (callers decide what a failure means). */
export interface CommandRunner {
  run(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult>;
}

/** Spawns the command; on timeout it is killed (SIGKILL) and `timedOut` is set. */
export const systemRunner: CommandRunner = {
  run(command, args, timeoutMs) {
    return new Promise((resolve) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr: stderr + error.message, timedOut });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, timedOut });
      });
    });
  },
};
