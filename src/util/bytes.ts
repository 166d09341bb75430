/**
 * Byte helpers shared by the codecs: alignment arithmetic and checked 64-bit conversion.
 *
 * Convention 4 of STYLE.md: 64-bit on-disk and wire fields are read as bigint and converted to
 * number in exactly one checked place, `toSafeNumber`.
 */
import { BlockError } from './errors.js';

export function alignDown(value: number, align: number): number {
  return value - (value % align);
}

export function alignUp(value: number, align: number): number {
  const r = value % align;
  return r === 0 ? value : value + (align - r);
}

export function isAligned(value: number, align: number): boolean {
  return value % align === 0;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

export function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/** Converts a 64-bit field to a number, failing when it cannot be represented exactly. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BlockError('CORRUPT', `${what} is out of range (${v})`);
  }
  return Number(v);
}

export function readU64(buf: Buffer, off: number, what: string): number {
  return toSafeNumber(buf.readBigUInt64BE(off), what);
}

/** Writes a 64-bit field. A value that is not an exact non-negative integer is a bug upstream. */
export function writeU64(buf: Buffer, off: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new BlockError('INVALID', `cannot store ${v} in a 64-bit field: not a safe non-negative integer`);
  }
  buf.writeBigUInt64BE(BigInt(v), off);
}

/** True when every byte of `buf` is zero. */
const ZEROES = Buffer.alloc(64 * 1024);

export function isZero(buf: Buffer): boolean {
  for (let off = 0; off < buf.length; off += ZEROES.length) {
    const n = Math.min(ZEROES.length, buf.length - off);
    if (ZEROES.compare(buf, off, off + n, 0, n) !== 0) return false;
  }
  return true;
}
