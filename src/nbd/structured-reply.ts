/**
 * Structured reply chunks (proto.md "Structured reply chunk message", "Structured reply types"):
 *
 *     S: 32 bits, 0x668e33ef, magic (NBD_STRUCTURED_REPLY_MAGIC)
 *     S: 16 bits, flags (NBD_REPLY_FLAG_DONE on the final chunk)
 *     S: 16 bits, type
 *     S: 64 bits, handle
 *     S: 32 bits, length of payload (unsigned)
 *     S: length bytes of payload
 *
 * Payloads by type:
 *
 *     NBD_REPLY_TYPE_NONE (0):          none (length 0, always with DONE)
 *     NBD_REPLY_TYPE_OFFSET_DATA (1):   64 bits offset, length - 8 bytes of data (length >= 9)
 *     NBD_REPLY_TYPE_OFFSET_HOLE (2):   64 bits offset, 32 bits hole size (length 12, size > 0)
 *     NBD_REPLY_TYPE_BLOCK_STATUS (5):  32 bits context ID, then descriptors of
 *                                       32 bits extent length (nonzero), 32 bits status flags
 *     NBD_REPLY_TYPE_ERROR (2^15+1):    32 bits error (nonzero), 16 bits message length, message
 *     NBD_REPLY_TYPE_ERROR_OFFSET (2^15+2): as ERROR, then 64 bits offset
 *
 * The read path writes the chunk header and the offset into the first 28 bytes of the buffer the
 * data is read into (`writeOffsetDataHeader`), so a read reply goes out as one buffer.
 */
import { NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE, NBD_STRUCTURED_REPLY_MAGIC } from './constants.js';
import { NbdProtocolError, readWireU64 } from './errors.js';
import { decodeBlockStatusExtPayload } from './extended-reply.js';

export const CHUNK_HEADER_SIZE = 20;
/** Chunk header plus the 64-bit offset of an OFFSET_DATA chunk: where the data starts. */
export const OFFSET_DATA_HEADER_SIZE = CHUNK_HEADER_SIZE + 8;

export interface ChunkHeader {
  flags: number;
  type: number;
  handle: bigint;
  length: number;
}

export interface BlockStatusDescriptor {
  length: number;
  flags: number;
}

export type ChunkPayload =
  | { type: 'none' }
  | { type: 'offset-data'; offset: number; data: Buffer }
  | { type: 'offset-hole'; offset: number; size: number }
  | { type: 'block-status'; contextId: number; extents: BlockStatusDescriptor[] }
  | { type: 'error'; error: number; message: string }
  | { type: 'error-offset'; error: number; message: string; offset: number }
  | { type: 'unknown'; chunkType: number; data: Buffer }
  | { type: 'invalid'; chunkType: number; why: string };

export function writeChunkHeader(b: Buffer, at: number, h: ChunkHeader): void {
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, at);
  b.writeUInt16BE(h.flags, at + 4);
  b.writeUInt16BE(h.type, at + 6);
  b.writeBigUInt64BE(h.handle, at + 8);
  b.writeUInt32BE(h.length, at + 16);
}

/** Fills b[0, 28) for an OFFSET_DATA chunk whose data is b[28, b.length). */
export function writeOffsetDataHeader(b: Buffer, flags: number, handle: bigint, offset: number): void {
  writeChunkHeader(b, 0, { flags, type: NBD_REPLY_TYPE.OFFSET_DATA, handle, length: b.length - 20 });
  b.writeBigUInt64BE(BigInt(offset), CHUNK_HEADER_SIZE);
}

export function encodeNoneChunk(handle: bigint): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE);
  writeChunkHeader(b, 0, { flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE.NONE, handle, length: 0 });
  return b;
}

export function encodeOffsetDataChunk(flags: number, handle: bigint, offset: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(OFFSET_DATA_HEADER_SIZE + data.length);
  data.copy(b, OFFSET_DATA_HEADER_SIZE);
  writeOffsetDataHeader(b, flags, handle, offset);
  return b;
}

export function encodeOffsetHoleChunk(flags: number, handle: bigint, offset: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + 12);
  writeChunkHeader(b, 0, { flags, type: NBD_REPLY_TYPE.OFFSET_HOLE, handle, length: 12 });
  b.writeBigUInt64BE(BigInt(offset), CHUNK_HEADER_SIZE);
  b.writeUInt32BE(size, CHUNK_HEADER_SIZE + 8);
  return b;
}

export function encodeBlockStatusChunk(
  flags: number,
  handle: bigint,
  contextId: number,
  extents: readonly BlockStatusDescriptor[],
): Buffer {
  const length = 4 + 8 * extents.length;
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + length);
  writeChunkHeader(b, 0, { flags, type: NBD_REPLY_TYPE.BLOCK_STATUS, handle, length });
  b.writeUInt32BE(contextId, CHUNK_HEADER_SIZE);
  let at = CHUNK_HEADER_SIZE + 4;
  for (const e of extents) {
    b.writeUInt32BE(e.length, at);
    b.writeUInt32BE(e.flags, at + 4);
    at += 8;
  }
  return b;
}

/** An NBD_REPLY_TYPE_ERROR chunk; the message is cut to the spec's 4096-byte string limit. */
export function encodeErrorChunk(flags: number, handle: bigint, error: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8').subarray(0, 4096);
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + 6 + msg.length);
  writeChunkHeader(b, 0, { flags, type: NBD_REPLY_TYPE.ERROR, handle, length: 6 + msg.length });
  b.writeUInt32BE(error, CHUNK_HEADER_SIZE);
  b.writeUInt16BE(msg.length, CHUNK_HEADER_SIZE + 4);
  msg.copy(b, CHUNK_HEADER_SIZE + 6);
  return b;
}

export function decodeChunkHeader(b: Buffer, at = 0): ChunkHeader {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_STRUCTURED_REPLY_MAGIC) {
    throw new NbdProtocolError('BAD_MAGIC', `reply magic 0x${magic.toString(16)} is not a structured reply`);
  }
  return {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    handle: b.readBigUInt64BE(at + 8),
    length: b.readUInt32BE(at + 16),
  };
}

/** Classifies a chunk's payload by type, checking the lengths the spec fixes. */
export function decodeChunkPayload(chunkType: number, p: Buffer): ChunkPayload {
  const invalid = (why: string): ChunkPayload => ({ type: 'invalid', chunkType, why });
  switch (chunkType) {
    case NBD_REPLY_TYPE.NONE:
      return p.length === 0 ? { type: 'none' } : invalid(`NONE with length ${p.length}`);
    case NBD_REPLY_TYPE.OFFSET_DATA:
      if (p.length < 9) return invalid(`OFFSET_DATA with length ${p.length}`);
      return { type: 'offset-data', offset: readWireU64(p, 0, 'data chunk offset'), data: p.subarray(8) };
    case NBD_REPLY_TYPE.OFFSET_HOLE:
      if (p.length !== 12) return invalid(`OFFSET_HOLE with length ${p.length}`);
      return { type: 'offset-hole', offset: readWireU64(p, 0, 'hole chunk offset'), size: p.readUInt32BE(8) };
    case NBD_REPLY_TYPE.BLOCK_STATUS: {
      if (p.length < 12 || (p.length - 4) % 8 !== 0) return invalid(`BLOCK_STATUS with length ${p.length}`);
      const extents: BlockStatusDescriptor[] = [];
      for (let at = 4; at < p.length; at += 8) {
        extents.push({ length: p.readUInt32BE(at), flags: p.readUInt32BE(at + 4) });
      }
      return { type: 'block-status', contextId: p.readUInt32BE(0), extents };
    }
    case NBD_REPLY_TYPE.BLOCK_STATUS_EXT: {
      const d = decodeBlockStatusExtPayload(p);
      return d ? { type: 'block-status', ...d } : invalid(`BLOCK_STATUS_EXT with length ${p.length}`);
    }
    case NBD_REPLY_TYPE.ERROR:
    case NBD_REPLY_TYPE.ERROR_OFFSET: {
      const tail = chunkType === NBD_REPLY_TYPE.ERROR ? 0 : 8;
      if (p.length < 6 + tail) return invalid(`error chunk with length ${p.length}`);
      const n = p.readUInt16BE(4);
      if (n > p.length - 6 - tail) return invalid(`error message length ${n} exceeds the chunk`);
      const error = p.readUInt32BE(0);
      const message = p.toString('utf8', 6, 6 + n);
      if (tail === 0) return { type: 'error', error, message };
      return { type: 'error-offset', error, message, offset: readWireU64(p, 6 + n, 'error offset') };
    }
    default:
      return { type: 'unknown', chunkType, data: Buffer.from(p) };
  }
}
