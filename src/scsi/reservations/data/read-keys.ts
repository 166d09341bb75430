/**
 * PERSISTENT RESERVE IN READ KEYS parameter data (SPC-4 §6.15.2 Table 178):
 *
 *   bytes 0..3  PRGENERATION
 *   bytes 4..7  ADDITIONAL LENGTH (n - 7): 8 x the number of keys
 *   bytes 8..n  RESERVATION KEY list, 8 bytes each, one per registered I_T nexus
 *
 * ADDITIONAL LENGTH always counts every key; the dispatcher clips the data to the ALLOCATION
 * LENGTH, so an initiator learns how much to ask for (SPC-4 §4.2.5.6).
 */
import { PrCodecError } from '../codec-error.js';

export const READ_KEYS_HEADER = 8;

export interface ReadKeysData {
  generation: number;
  keys: bigint[];
}

export function encodeReadKeys(d: ReadKeysData): Buffer {
  const b = Buffer.alloc(READ_KEYS_HEADER + 8 * d.keys.length);
  b.writeUInt32BE(d.generation >>> 0, 0);
  b.writeUInt32BE(8 * d.keys.length, 4);
  d.keys.forEach((k, i) => b.writeBigUInt64BE(k, READ_KEYS_HEADER + 8 * i));
  return b;
}

/** Decodes READ KEYS data; a truncated list (short allocation length) yields the keys present. */
export function decodeReadKeys(b: Buffer): ReadKeysData & { additionalLength: number } {
  if (b.length < READ_KEYS_HEADER) throw new PrCodecError('length', 0, 'READ KEYS header truncated');
  const additionalLength = b.readUInt32BE(4);
  const end = Math.min(b.length, READ_KEYS_HEADER + additionalLength);
  const keys: bigint[] = [];
  for (let off = READ_KEYS_HEADER; off + 8 <= end; off += 8) keys.push(b.readBigUInt64BE(off));
  return { generation: b.readUInt32BE(0), keys, additionalLength };
}
