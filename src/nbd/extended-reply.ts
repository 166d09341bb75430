/**
 * The extended reply chunk, the only reply form once NBD_OPT_EXTENDED_HEADERS is negotiated
 * (simple replies are no longer used; a success without data is an NBD_REPLY_TYPE_NONE chunk):
 *
 *     S: 32 bits, 0x6e8a278c, magic (NBD_EXTENDED_REPLY_MAGIC)
 *     S: 16 bits, flags (NBD_REPLY_FLAG_DONE on the final chunk)
 *     S: 16 bits, type
 *     S: 64 bits, cookie
 *     S: 64 bits, offset: the offset of the request the chunk answers
 *     S: 64 bits, length of payload (unsigned)
 *     S: length bytes of payload
 *
 * The payloads are those of structured-reply.ts, plus NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
 *
 *     32 bits, metadata context ID
 *     32 bits, number of descriptors
 *     descriptors of 64 bits extent length (nonzero), 64 bits status flags
 */
import { NBD_EXTENDED_REPLY_MAGIC } from './constants.js';
import { NbdProtocolError, readWireU64 } from './errors.js';
import type { BlockStatusDescriptor } from './structured-reply.js';

export const EXTENDED_CHUNK_HEADER_SIZE = 32;

export interface ExtendedChunkHeader {
  flags: number;
  type: number;
  handle: bigint;
  /** The request's offset. */
  offset: number | bigint;
  length: number;
}

export function writeExtendedChunkHeader(b: Buffer, at: number, h: ExtendedChunkHeader): void {
  b.writeUInt32BE(NBD_EXTENDED_REPLY_MAGIC, at);
  b.writeUInt16BE(h.flags, at + 4);
  b.writeUInt16BE(h.type, at + 6);
  b.writeBigUInt64BE(h.handle, at + 8);
  b.writeBigUInt64BE(BigInt(h.offset), at + 16);
  b.writeBigUInt64BE(BigInt(h.length), at + 24);
}

/** One extended chunk with its payload, in one buffer. */
export function encodeExtendedChunk(h: Omit<ExtendedChunkHeader, 'length'>, payload?: Buffer): Buffer {
  const n = payload?.length ?? 0;
  const b = Buffer.allocUnsafe(EXTENDED_CHUNK_HEADER_SIZE + n);
  writeExtendedChunkHeader(b, 0, { ...h, length: n });
  payload?.copy(b, EXTENDED_CHUNK_HEADER_SIZE);
  return b;
}

export function decodeExtendedChunkHeader(b: Buffer, at = 0): ExtendedChunkHeader {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_EXTENDED_REPLY_MAGIC) {
    throw new NbdProtocolError('BAD_MAGIC', `reply magic 0x${magic.toString(16)} is not an extended reply`);
  }
  return {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    handle: b.readBigUInt64BE(at + 8),
    offset: b.readBigUInt64BE(at + 16),
    length: readWireU64(b, at + 24, 'reply length'),
  };
}

/** The payload of NBD_REPLY_TYPE_BLOCK_STATUS_EXT. */
export function encodeBlockStatusExtPayload(
  contextId: number,
  extents: readonly BlockStatusDescriptor[],
): Buffer {
  const b = Buffer.allocUnsafe(8 + 16 * extents.length);
  b.writeUInt32BE(contextId, 0);
  b.writeUInt32BE(extents.length, 4);
  let at = 8;
  for (const e of extents) {
    b.writeBigUInt64BE(BigInt(e.length), at);
    b.writeBigUInt64BE(BigInt(e.flags), at + 8);
    at += 16;
  }
  return b;
}

export function decodeBlockStatusExtPayload(
  p: Buffer,
): { contextId: number; extents: BlockStatusDescriptor[] } | undefined {
  if (p.length < 24 || (p.length - 8) % 16 !== 0 || p.readUInt32BE(4) !== (p.length - 8) / 16)
    return undefined;
  const extents: BlockStatusDescriptor[] = [];
  for (let at = 8; at < p.length; at += 16) {
    extents.push({
      length: readWireU64(p, at, 'extent length'),
      flags: readWireU64(p, at + 8, 'extent flags'),
    });
  }
  return { contextId: p.readUInt32BE(0), extents };
}
