/**
 * REPORT LUNS parameter data (SPC-4 §6.33, Table 290): bytes 0..3 LUN LIST LENGTH (n - 7),
 * 4..7 reserved, then one 8-byte LUN per logical unit.
 *
 * LUN encoding (SAM-5 §4.7.7): LUNs below 256 use the peripheral device addressing method
 * (byte 0 = 00h, byte 1 = LUN); LUNs up to 16383 use the flat space addressing method (byte 0 =
 * 40h | LUN[13..8], byte 1 = LUN[7..0]). The same function decodes a transport's LUN field.
 */
import { BlockError } from '../../util/index.js';

export const MAX_LUN = 0x3fff;

export function encodeLun(lun: number): Buffer {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN)
    throw new BlockError('INVALID', `invalid LUN ${lun}`);
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else b.writeUInt16BE(0x4000 | lun, 0);
  return b;
}

/** Decodes the first level of an 8-byte LUN; throws INVALID for other addressing methods. */
export function decodeLun(b: Buffer): number {
  const method = b[0]! >> 6;
  if (method === 0 && b[0] === 0) return b[1]!;
  if (method === 1) return b.readUInt16BE(0) & 0x3fff;
  throw new BlockError('INVALID', `unsupported LUN addressing method ${method}`);
}

export function encodeReportLuns(luns: readonly number[]): Buffer {
  const b = Buffer.alloc(8 + 8 * luns.length);
  b.writeUInt32BE(8 * luns.length, 0);
  luns.forEach((l, i) => encodeLun(l).copy(b, 8 + 8 * i));
  return b;
}

export function decodeReportLuns(b: Buffer): number[] {
  if (b.length < 8) throw new BlockError('INVALID', 'REPORT LUNS data too short');
  const n = Math.min(b.readUInt32BE(0), b.length - 8) >>> 3;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(decodeLun(b.subarray(8 + 8 * i, 16 + 8 * i)));
  return out;
}
