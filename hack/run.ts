/**
 * Running a tool from the hack scripts (helm, kubectl, buildah, ctr, ip): its output, or an error
 * that names the command and ends with the last lines it printed.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export async function runTool(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: options.timeoutMs ?? 5 * 60_000,
      env: options.env,
    });
    return stdout;
  } catch (error) {
    const { stdout, stderr, message } = error as { stdout?: string; stderr?: string; message: string };
    const tail = `${stdout ?? ''}${stderr ?? ''}`.trimEnd().split('\n').slice(-25).join('\n');
    const commandLine = [command.split('/').pop(), ...args].join(' ');
    const shown = commandLine.length > 300 ? `${commandLine.slice(0, 300)}…` : commandLine;
    throw new Error(`${shown} failed: ${message.split('\n')[0]}${tail ? `\n${tail}` : ''}`);
  }
}
