/**
 * The extended request, used once NBD_OPT_EXTENDED_HEADERS is negotiated (proto.md "Extended
 * headers"; qemu nbd/server.c):
 *
 *     C: 32 bits, 0x21e41c71, magic (NBD_EXTENDED_REQUEST_MAGIC)
 *     C: 16 bits, command flags
 *     C: 16 bits, type
 *     C: 64 bits, cookie (the compact request's handle)
 *     C: 64 bits, offset (unsigned)
 *     C: 64 bits, length (unsigned): the command's effect, or its payload with
 *        NBD_CMD_FLAG_PAYLOAD_LEN (and for NBD_CMD_WRITE)
 *
 * Decoded into the same RequestHeader as the compact form; offset and length are exact up to
 * 2^53 - 1 and Infinity above (past the end of every export, refused at the edge).
 */
import { NBD_EXTENDED_REQUEST_MAGIC } from './constants.js';
import { NbdProtocolError } from './errors.js';
import type { RequestHeader } from './request.js';

export const EXTENDED_REQUEST_SIZE = 32;

const TWO_32 = 2 ** 32;

function u64(b: Buffer, at: number): number {
  const hi = b.readUInt32BE(at);
  return hi > 0x1fffff ? Infinity : hi * TWO_32 + b.readUInt32BE(at + 4);
}

export function decodeExtendedRequest(b: Buffer, at = 0): RequestHeader {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_EXTENDED_REQUEST_MAGIC) {
    throw new NbdProtocolError(
      'BAD_MAGIC',
      `request magic 0x${magic.toString(16)} is not NBD_EXTENDED_REQUEST_MAGIC`,
    );
  }
  const h: RequestHeader = {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    handle: b.readBigUInt64BE(at + 8),
    offset: u64(b, at + 16),
    length: u64(b, at + 24),
  };
  if (h.offset === Infinity) h.wireOffset = b.readBigUInt64BE(at + 16);
  return h;
}

/** Encodes an extended request header (for clients and tests); offset and length are any u64. */
export function encodeExtendedRequest(
  r: Omit<RequestHeader, 'offset' | 'length' | 'wireOffset'> & {
    offset: number | bigint;
    length: number | bigint;
  },
): Buffer {
  const b = Buffer.alloc(EXTENDED_REQUEST_SIZE);
  b.writeUInt32BE(NBD_EXTENDED_REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.handle, 8);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeBigUInt64BE(BigInt(r.length), 24);
  return b;
}
