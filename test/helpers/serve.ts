/**
 * A serving command (`vdisk nbd serve`, `vdisk iscsi serve`) as a child process: started with its
 * arguments, ready once it has printed its URL lines, SIGKILLed after the test file or suite if it
 * is still running.
 */
import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const VDISK = path.resolve('bin/vdisk.js');

export interface ServingProcess {
  proc: ChildProcess;
  /** The first lines it printed on stdout (its URLs). */
  lines: string[];
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Runs `vdisk ARGS` and waits for `lines` complete lines on its stdout. */
export async function spawnServing(
  args: string[],
  lines = 1,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServingProcess> {
  const proc = spawn(process.execPath, [VDISK, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  after(() => {
    proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const printed = await new Promise<string[]>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const ls = out.split('\n').filter(Boolean);
      if (ls.length >= lines && out.endsWith('\n')) resolve(ls);
    });
    void exited.then((code) =>
      reject(new Error(`vdisk ${args.slice(0, 2).join(' ')} exited ${code}: ${err}`)),
    );
  });
  return { proc, lines: printed, exited, stderr: () => err };
}
