/**
 * Test harness for the command line: runs `node bin/vdisk.js` (the built CLI) and QEMU's tools
 * as child processes, makes temporary directories, and lists the formats the CLI tests run on.
 *
 * qcow2 runs only when the driver exists: `formatsUnderTest` asks createImage for a qcow2 image
 * and skips qcow2 (with the reason) only when the answer is NOT_SUPPORTED.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createImage, openImage, type ImageFormat } from '../../src/formats/index.js';
import { isBlockError } from '../../src/util/index.js';

/** dist/test/cli -> the repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const VDISK = path.join(ROOT, 'bin', 'vdisk.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (child.stdin) {
      // The child may exit before reading its input; that is its business, not a test failure.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

/** `vdisk ARGS...` in `cwd`. */
export function vdisk(cwd: string, ...args: string[]): Promise<RunResult> {
  return run(process.execPath, [VDISK, ...args], { cwd });
}

export function vdiskInput(cwd: string, input: string, ...args: string[]): Promise<RunResult> {
  return run(process.execPath, [VDISK, ...args], { cwd, input });
}

export function qemuImg(cwd: string, ...args: string[]): Promise<RunResult> {
  return run('qemu-img', args, { cwd });
}

export function qemuIo(cwd: string, ...args: string[]): Promise<RunResult> {
  return run('qemu-io', args, { cwd });
}

/** A fresh directory, removed after the test file. */
export function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(process.env.VDISK_TEST_TMPDIR ?? os.tmpdir(), 'vdisk-cli-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts a command succeeded, showing its stderr when it did not. */
export function ok(r: RunResult, what = 'command'): RunResult {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r;
}

/** Asserts the CLI's error contract: non-zero exit, exactly one `vdisk: ...` line, no trace. */
export function oneLineError(r: RunResult, pattern?: RegExp, code?: number): void {
  assert.notEqual(r.code, 0, `expected a failure, got exit 0: ${r.stdout}`);
  if (code !== undefined) assert.equal(r.code, code, `exit code: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^vdisk: \S/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  if (pattern) assert.match(lines[0]!, pattern);
}

export interface FormatCase {
  format: ImageFormat;
  /** Why the format's tests are skipped, or false. */
  skip: string | false;
}

async function unavailable(format: ImageFormat): Promise<string | false> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vdisk-probe-'));
  try {
    await createImage(path.join(dir, `probe.${format}`), { format, size: 1024 * 1024 });
    return false;
  } catch (err) {
    if (isBlockError(err, 'NOT_SUPPORTED')) {
      return `the ${format} driver is not available yet (createImage: ${err.message})`;
    }
    throw err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** raw always; qcow2 unless its driver still answers NOT_SUPPORTED. */
export async function formatsUnderTest(): Promise<FormatCase[]> {
  return [
    { format: 'raw', skip: false },
    { format: 'qcow2', skip: await unavailable('qcow2') },
  ];
}

/** Parses qemu-img-style JSON and sorts nothing: deepEqual ignores key order anyway. */
export function json(r: RunResult): unknown {
  return JSON.parse(r.stdout);
}

/**
 * A test image made in-process (no child process, so tests stay fast): data at 1M (64k of
 * 0xab), 100 bytes of 0xcd at 5000, zeroes written at 4M (64k), 192k of 0x07 at 10M.
 */
export async function makeScattered(
  file: string,
  format: ImageFormat,
  size = 64 * 1024 * 1024,
): Promise<void> {
  await createImage(file, { format, size });
  const img = await openImage(file, { format });
  try {
    await img.write(1024 * 1024, Buffer.alloc(64 * 1024, 0xab));
    await img.write(5000, Buffer.alloc(100, 0xcd));
    await img.writeZeroes(4 * 1024 * 1024, 64 * 1024);
    await img.write(10 * 1024 * 1024, Buffer.alloc(192 * 1024, 7));
  } finally {
    await img.close();
  }
}

/** An empty image made in-process. */
export async function makeImage(file: string, format: ImageFormat, size: number): Promise<void> {
  await createImage(file, { format, size });
}

/** Writes `length` bytes of `pattern` at `offset`, in-process. */
export async function fill(file: string, offset: number, length: number, pattern: number): Promise<void> {
  const img = await openImage(file);
  try {
    await img.write(offset, Buffer.alloc(length, pattern));
  } finally {
    await img.close();
  }
}
