/**
 * The three ways a reply can look, chosen by the negotiation, behind one interface so that the
 * command handlers (commands.ts) do not care:
 *
 * - `SIMPLE_REPLIES`: no NBD_OPT_STRUCTURED_REPLY. Every reply is a simple reply; a read's data
 *   follows its 16-byte header.
 * - `STRUCTURED_REPLIES`: structured reply chunks for reads, errors and block status; simple
 *   replies for the other successes (proto.md allows them when there is no payload).
 * - `EXTENDED_REPLIES`: NBD_OPT_EXTENDED_HEADERS. Every reply is made of 32-byte extended chunk
 *   headers (extended-reply.ts): successes are NBD_REPLY_TYPE_NONE, block status is
 *   NBD_REPLY_TYPE_BLOCK_STATUS_EXT with 64-bit lengths.
 *
 * A read reply is one buffer: `dataHeaderSize` bytes of room, then the data read in place;
 * `writeDataHeader` fills the room.
 */
import { NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE } from './constants.js';
import {
  encodeBlockStatusExtPayload,
  encodeExtendedChunk,
  EXTENDED_CHUNK_HEADER_SIZE,
  writeExtendedChunkHeader,
} from './extended-reply.js';
import type { RequestHeader } from './request.js';
import { encodeSimpleReply, SIMPLE_REPLY_SIZE, writeSimpleReply } from './simple-reply.js';
import {
  CHUNK_HEADER_SIZE,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetHoleChunk,
  OFFSET_DATA_HEADER_SIZE,
  writeChunkHeader,
  type BlockStatusDescriptor,
} from './structured-reply.js';

export interface ReplyStyle {
  /** Chunks (OFFSET_HOLE, several content chunks, block status) can be sent. */
  readonly structured: boolean;
  /** Room before a read reply's data. */
  readonly dataHeaderSize: number;
  /** Fills `room` (dataHeaderSize bytes) as the header of `dataLength` bytes read at `offset`. */
  writeDataHeader(room: Buffer, flags: number, h: RequestHeader, offset: number, dataLength: number): void;
  ok(h: RequestHeader): Buffer[];
  error(h: RequestHeader, errno: number, message: string): Buffer[];
  hole(flags: number, h: RequestHeader, offset: number, size: number): Buffer;
  none(h: RequestHeader): Buffer;
  blockStatus(
    flags: number,
    h: RequestHeader,
    contextId: number,
    d: readonly BlockStatusDescriptor[],
  ): Buffer;
}

function notStructured(): never {
  throw new Error('chunks without structured replies');
}

export const SIMPLE_REPLIES: ReplyStyle = {
  structured: false,
  dataHeaderSize: SIMPLE_REPLY_SIZE,
  writeDataHeader: (room, _flags, h) => writeSimpleReply(room, 0, 0, h.handle),
  ok: (h) => [encodeSimpleReply(0, h.handle)],
  error: (h, errno) => [encodeSimpleReply(errno, h.handle)],
  hole: notStructured,
  none: notStructured,
  blockStatus: notStructured,
};

export const STRUCTURED_REPLIES: ReplyStyle = {
  structured: true,
  dataHeaderSize: OFFSET_DATA_HEADER_SIZE,
  writeDataHeader: (room, flags, h, offset, dataLength) => {
    writeChunkHeader(room, 0, {
      flags,
      type: NBD_REPLY_TYPE.OFFSET_DATA,
      handle: h.handle,
      length: 8 + dataLength,
    });
    room.writeBigUInt64BE(BigInt(offset), CHUNK_HEADER_SIZE);
  },
  ok: (h) => [encodeSimpleReply(0, h.handle)],
  error: (h, errno, message) => [encodeErrorChunk(NBD_REPLY_FLAG_DONE, h.handle, errno, message)],
  hole: (flags, h, offset, size) => encodeOffsetHoleChunk(flags, h.handle, offset, size),
  none: (h) => encodeNoneChunk(h.handle),
  blockStatus: (flags, h, id, d) => encodeBlockStatusChunk(flags, h.handle, id, d),
};

/** The payload of an error chunk: error, message length, message (structured-reply.ts). */
function errorPayload(errno: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8').subarray(0, 4096);
  const p = Buffer.allocUnsafe(6 + msg.length);
  p.writeUInt32BE(errno, 0);
  p.writeUInt16BE(msg.length, 4);
  msg.copy(p, 6);
  return p;
}

export const EXTENDED_REPLIES: ReplyStyle = {
  structured: true,
  dataHeaderSize: EXTENDED_CHUNK_HEADER_SIZE + 8,
  writeDataHeader: (room, flags, h, offset, dataLength) => {
    writeExtendedChunkHeader(room, 0, {
      flags,
      type: NBD_REPLY_TYPE.OFFSET_DATA,
      handle: h.handle,
      offset: echo(h),
      length: 8 + dataLength,
    });
    room.writeBigUInt64BE(BigInt(offset), EXTENDED_CHUNK_HEADER_SIZE);
  },
  ok: (h) => [EXTENDED_REPLIES.none(h)],
  error: (h, errno, message) => [
    encodeExtendedChunk(
      { flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE.ERROR, handle: h.handle, offset: echo(h) },
      errorPayload(errno, message),
    ),
  ],
  hole: (flags, h, offset, size) => {
    const p = Buffer.allocUnsafe(12);
    p.writeBigUInt64BE(BigInt(offset), 0);
    p.writeUInt32BE(size, 8);
    return encodeExtendedChunk(
      { flags, type: NBD_REPLY_TYPE.OFFSET_HOLE, handle: h.handle, offset: echo(h) },
      p,
    );
  },
  none: (h) =>
    encodeExtendedChunk({
      flags: NBD_REPLY_FLAG_DONE,
      type: NBD_REPLY_TYPE.NONE,
      handle: h.handle,
      offset: echo(h),
    }),
  blockStatus: (flags, h, id, d) =>
    encodeExtendedChunk(
      { flags, type: NBD_REPLY_TYPE.BLOCK_STATUS_EXT, handle: h.handle, offset: echo(h) },
      encodeBlockStatusExtPayload(id, d),
    ),
};

/** The request's offset as the client sent it, for the extended chunk header. */
function echo(h: RequestHeader): number | bigint {
  return h.wireOffset ?? h.offset;
}
