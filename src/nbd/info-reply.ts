/**
 * The payload of an NBD_REP_INFO reply (proto.md "`NBD_REP_INFO` (3)"): a 16-bit information
 * type, then the type's payload.
 *
 *     NBD_INFO_EXPORT (0):      64 bits size, 16 bits transmission flags      (length 12)
 *     NBD_INFO_NAME (1):        String: canonical name of the export          (length >= 2)
 *     NBD_INFO_DESCRIPTION (2): String: description for a human being         (length >= 2)
 *     NBD_INFO_BLOCK_SIZE (3):  32 bits minimum, preferred, maximum block size (length 14)
 *
 * "The client MUST ignore information replies it does not understand": an unknown type decodes
 * to `unknown` with its bytes kept, and encodes back to the same bytes.
 */
import { NBD_INFO } from './constants.js';

export type Info =
  | { type: 'export'; size: number; flags: number }
  | { type: 'name'; name: string }
  | { type: 'description'; text: string }
  | { type: 'block-size'; minimum: number; preferred: number; maximum: number }
  | { type: 'unknown'; info: number; data: Buffer }
  | { type: 'invalid'; info: number; why: string };

export function encodeInfo(i: Exclude<Info, { type: 'invalid' }>): Buffer {
  switch (i.type) {
    case 'export': {
      const b = Buffer.alloc(12);
      b.writeUInt16BE(NBD_INFO.EXPORT, 0);
      b.writeBigUInt64BE(BigInt(i.size), 2);
      b.writeUInt16BE(i.flags, 10);
      return b;
    }
    case 'name':
      return withType(NBD_INFO.NAME, Buffer.from(i.name, 'utf8'));
    case 'description':
      return withType(NBD_INFO.DESCRIPTION, Buffer.from(i.text, 'utf8'));
    case 'block-size': {
      const b = Buffer.alloc(14);
      b.writeUInt16BE(NBD_INFO.BLOCK_SIZE, 0);
      b.writeUInt32BE(i.minimum, 2);
      b.writeUInt32BE(i.preferred, 6);
      b.writeUInt32BE(i.maximum, 10);
      return b;
    }
    case 'unknown':
      return withType(i.info, i.data);
  }
}

export function decodeInfo(b: Buffer): Info {
  if (b.length < 2) return { type: 'invalid', info: -1, why: 'shorter than its type field' };
  const info = b.readUInt16BE(0);
  switch (info) {
    case NBD_INFO.EXPORT: {
      if (b.length !== 12) return { type: 'invalid', info, why: `NBD_INFO_EXPORT of length ${b.length}` };
      const size = b.readBigUInt64BE(2);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) return { type: 'invalid', info, why: `size ${size}` };
      return { type: 'export', size: Number(size), flags: b.readUInt16BE(10) };
    }
    case NBD_INFO.NAME:
      return { type: 'name', name: b.toString('utf8', 2) };
    case NBD_INFO.DESCRIPTION:
      return { type: 'description', text: b.toString('utf8', 2) };
    case NBD_INFO.BLOCK_SIZE:
      if (b.length !== 14) return { type: 'invalid', info, why: `NBD_INFO_BLOCK_SIZE of length ${b.length}` };
      return {
        type: 'block-size',
        minimum: b.readUInt32BE(2),
        preferred: b.readUInt32BE(6),
        maximum: b.readUInt32BE(10),
      };
    default:
      return { type: 'unknown', info, data: Buffer.from(b.subarray(2)) };
  }
}

function withType(info: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(2 + payload.length);
  b.writeUInt16BE(info, 0);
  payload.copy(b, 2);
  return b;
}
