/**
 * QEMU's tools as test peers: qemu-img and qemu-io run synchronously through spawnSync, with
 * their output parsed where it is JSON. Tests that need them skip (with the reason) when they are
 * not installed; everything else about a failure is an assertion that names the command line and
 * what the tool printed.
 *
 * Also: byte patterns and model files, raw-file byte patching, and `expectBlockError`, which
 * checks that a promise fails with a typed BlockError of a given code and message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { skipWithout } from './tools.js';
import fs from 'node:fs';
import { type BlockErrorCode, isBlockError } from '../../src/util/index.js';

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
  /** The command line, for assertion messages. */
  cmd: string;
}

/** Runs a tool to completion. A missing binary gives status 127. */
export function runTool(cmd: string, args: string[]): ToolResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const line = [cmd, ...args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a))].join(' ');
  if (r.error) return { status: 127, stdout: '', stderr: String(r.error), cmd: line };
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr, cmd: line };
}

function describe(r: ToolResult): string {
  return `${r.cmd} -> exit ${r.status}\n${r.stdout}${r.stderr}`;
}

/** False, or the reason to skip tests that need qemu-img and qemu-io. */
export function skipWithoutQemu(): string | false {
  return skipWithout('qemu-img', 'qemu-io');
}

export function qemuImg(args: string[]): ToolResult {
  return runTool('qemu-img', args);
}

/** Runs qemu-img and asserts exit status 0; returns stdout. */
export function qemuImgOk(args: string[]): string {
  const r = qemuImg(args);
  assert.equal(r.status, 0, describe(r));
  return r.stdout;
}

export function qemuImgJson<T = Record<string, unknown>>(args: string[]): T {
  return JSON.parse(qemuImgOk([...args, '--output=json'])) as T;
}

/**
 * Runs qemu-io commands on one image. qemu-io exits 1 when a command fails; a failed pattern
 * check ("Pattern verification failed") is reported both ways.
 */
export function qemuIo(file: string, cmds: string[], format = 'qcow2', extra: string[] = []): ToolResult {
  return runTool('qemu-io', ['-f', format, ...extra, ...cmds.flatMap((c) => ['-c', c]), file]);
}

/** Runs qemu-io commands and asserts that every one succeeded (patterns verified included). */
export function qemuIoOk(file: string, cmds: string[], format = 'qcow2', extra: string[] = []): string {
  const r = qemuIo(file, cmds, format, extra);
  const failed = /Pattern verification failed|failed|error/i.test(r.stdout + r.stderr);
  assert.ok(r.status === 0 && !failed, describe(r));
  return r.stdout;
}

export interface QemuCheck {
  status: number;
  report: {
    'check-errors': number;
    corruptions?: number;
    leaks?: number;
    'leaks-fixed'?: number;
    'corruptions-fixed'?: number;
    'image-end-offset'?: number;
    'total-clusters'?: number;
    'allocated-clusters'?: number;
    'fragmented-clusters'?: number;
    'compressed-clusters'?: number;
  };
  stderr: string;
  raw: ToolResult;
}

/** `qemu-img check --output=json` (exit 0 clean, 2 corruptions, 3 leaks only). */
export function qemuCheck(file: string, extra: string[] = []): QemuCheck {
  const r = qemuImg(['check', '--output=json', ...extra, file]);
  let report: QemuCheck['report'];
  try {
    report = JSON.parse(r.stdout) as QemuCheck['report'];
  } catch {
    assert.fail(`qemu-img check printed no JSON: ${describe(r)}`);
  }
  return { status: r.status, report, stderr: r.stderr, raw: r };
}

/** Asserts that qemu-img check finds nothing wrong (no corruption, no leak). */
export function assertQemuCheckClean(file: string, context = ''): QemuCheck['report'] {
  const c = qemuCheck(file);
  assert.equal(c.status, 0, `${context}: ${describe(c.raw)}`);
  assert.equal(c.report.corruptions ?? 0, 0, context);
  assert.equal(c.report.leaks ?? 0, 0, context);
  return c.report;
}

export interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

export function qemuMap(file: string, format = 'qcow2'): QemuMapEntry[] {
  return qemuImgJson<QemuMapEntry[]>(['map', '-f', format, file]);
}

/** The guest bytes of an image (its whole backing chain) as QEMU reads them. */
export function qemuRawBytes(file: string, out: string, format = 'qcow2'): Buffer {
  qemuImgOk(['convert', '-f', format, '-O', 'raw', file, out]);
  return fs.readFileSync(out);
}

/** Deterministic, position-dependent bytes (no two 512-byte sectors alike). */
export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Reads `length` bytes of a file at `offset`. */
export function readAt(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    fs.readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Overwrites bytes of a file at `offset` (for damaging images on purpose). */
export function patchAt(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function u64be(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

/**
 * Awaits `p`, which must fail with a BlockError of `code` (or one of `code`) whose message
 * matches `message`. Returns the error for further checks.
 */
export async function expectBlockError(
  p: Promise<unknown> | (() => Promise<unknown>),
  code: BlockErrorCode | BlockErrorCode[],
  message?: RegExp,
): Promise<Error & { code: BlockErrorCode }> {
  const codes = Array.isArray(code) ? code : [code];
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected a BlockError ${codes.join('|')}, but the operation succeeded`);
  assert.ok(isBlockError(err), `expected a BlockError, got ${String(err)}`);
  assert.ok(codes.includes(err.code), `expected code ${codes.join('|')}, got ${err.code}: ${err.message}`);
  if (message) assert.match(err.message, message);
  return err;
}
