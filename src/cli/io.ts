/**
 * `vdisk io`: qemu-io for vdisk images. Opens one image (read-write unless -r) with a cache
 * mode, runs the -c commands in order (or, without -c, one command per line of stdin), closes.
 *
 * Like qemu-io, a failing command does not stop the ones after it: each failure is reported as
 * one line on stderr (a pattern mismatch on stdout, in qemu-io's words), the remaining commands
 * still run, and the exit code is 1 if any command failed. That keeps a scripted session's
 * later reads meaningful (and lets a test check several things in one process). `quit` stops.
 */
import readline from 'node:readline';
import type { CacheMode } from '../block/index.js';
import { openImage, type Image, type ImageFormat } from '../formats/index.js';
import { UsageError } from '../util/index.js';
import { findCommand, getopt, tokenize } from './io-commands.js';
import { errorMessage, printError } from './output.js';

export interface IoRunOptions {
  format?: ImageFormat;
  readOnly?: boolean;
  cache?: CacheMode;
  forceShare?: boolean;
  commands?: string[];
}

export async function io(file: string, opts: IoRunOptions): Promise<number> {
  if (opts.forceShare && !opts.readOnly) {
    throw new UsageError('-U (force share) can only be used with read-only images (-r)');
  }
  const image = await openImage(file, {
    format: opts.format,
    readOnly: opts.readOnly ?? false,
    cache: opts.cache,
    lock: !opts.forceShare,
  });
  let failed = false;
  try {
    for await (const line of commandLines(opts.commands)) {
      const result = await runLine(image, line);
      if (result === 'quit') break;
      if (result === 'failed') failed = true;
    }
  } finally {
    await image.close();
  }
  return failed ? 1 : 0;
}

async function* commandLines(commands: string[] | undefined): AsyncGenerator<string> {
  if (commands && commands.length > 0) {
    yield* commands;
    return;
  }
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  const interactive = process.stdin.isTTY === true;
  if (interactive) process.stdout.write('vdisk-io> ');
  for await (const line of rl) {
    yield line;
    if (interactive) process.stdout.write('vdisk-io> ');
  }
}

/** Runs one command line; never throws (a failure is reported and returned). */
export async function runLine(image: Image, line: string): Promise<'ok' | 'failed' | 'quit'> {
  let name = '?';
  try {
    const words = tokenize(line);
    if (words.length === 0) return 'ok';
    name = words[0]!;
    const cmd = findCommand(name);
    if (!cmd) {
      printError(`command "${name}" not found: try "help"`);
      return 'failed';
    }
    name = cmd.name;
    const { opts, rest } = getopt(words.slice(1), cmd.optstring);
    if (rest.length < cmd.minArgs || rest.length > cmd.maxArgs) {
      throw new UsageError(`bad argument count: usage: ${cmd.usage}`);
    }
    if (cmd.name === 'quit') return 'quit';
    return (await cmd.run(image, opts, rest)) ? 'ok' : 'failed';
  } catch (err) {
    printError(
      err instanceof UsageError ? `${name}: ${err.message}` : `${name} failed: ${errorMessage(err)}`,
    );
    return 'failed';
  }
}
