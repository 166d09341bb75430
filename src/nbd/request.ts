/**
 * The transmission-phase request (proto.md "Request message"):
 *
 *     C: 32 bits, 0x25609513, magic (NBD_REQUEST_MAGIC)
 *     C: 16 bits, command flags
 *     C: 16 bits, type
 *     C: 64 bits, handle
 *     C: 64 bits, offset (unsigned)
 *     C: 32 bits, length (unsigned)
 *     C: (length bytes of data if the request is of type NBD_CMD_WRITE)
 *
 * The handle is opaque and echoed back as a bigint. The offset is the one 64-bit field we turn
 * into a number, here: exact up to 2^53 - 1, and Infinity above, which is past the end of every
 * export, so the edge check (validate.ts) rejects it like any other offset past the end.
 */
import { NBD_REQUEST_MAGIC } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const REQUEST_SIZE = 28;

export interface RequestHeader {
  flags: number;
  type: number;
  handle: bigint;
  offset: number;
  length: number;
  /** The offset as sent, when `offset` could not hold it exactly (it is Infinity then). */
  wireOffset?: bigint;
}

const TWO_32 = 2 ** 32;
/** Above this high word, hi * 2^32 + lo is no longer an exact number. */
const MAX_SAFE_HIGH = 0x1fffff;

export function decodeRequest(b: Buffer, at = 0): RequestHeader {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_REQUEST_MAGIC) {
    throw new NbdProtocolError('BAD_MAGIC', `request magic 0x${magic.toString(16)} is not NBD_REQUEST_MAGIC`);
  }
  const hi = b.readUInt32BE(at + 16);
  const h: RequestHeader = {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    handle: b.readBigUInt64BE(at + 8),
    offset: hi > MAX_SAFE_HIGH ? Infinity : hi * TWO_32 + b.readUInt32BE(at + 20),
    length: b.readUInt32BE(at + 24),
  };
  if (hi > MAX_SAFE_HIGH) h.wireOffset = b.readBigUInt64BE(at + 16);
  return h;
}

/** Encodes a request header (for clients and tests); `offset` may be any 64-bit value. */
export function encodeRequest(
  r: Omit<RequestHeader, 'offset' | 'wireOffset'> & { offset: number | bigint },
): Buffer {
  const b = Buffer.alloc(REQUEST_SIZE);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.handle, 8);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeUInt32BE(r.length, 24);
  return b;
}
