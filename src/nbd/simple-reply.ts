/**
 * The simple reply (proto.md "Simple reply message"):
 *
 *     S: 32 bits, 0x67446698, magic (NBD_SIMPLE_REPLY_MAGIC)
 *     S: 32 bits, error (MAY be zero)
 *     S: 64 bits, handle
 *     S: (length bytes of data if the request is of type NBD_CMD_READ and error is zero)
 *
 * With structured replies negotiated it is used only for replies without a payload.
 */
import { NBD_SIMPLE_REPLY_MAGIC } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const SIMPLE_REPLY_SIZE = 16;

export interface SimpleReply {
  error: number;
  handle: bigint;
}

/** Writes the 16-byte header at `at` (a read reply's data follows it in the same buffer). */
export function writeSimpleReply(b: Buffer, at: number, error: number, handle: bigint): void {
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, at);
  b.writeUInt32BE(error, at + 4);
  b.writeBigUInt64BE(handle, at + 8);
}

export function encodeSimpleReply(error: number, handle: bigint): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_SIZE);
  writeSimpleReply(b, 0, error, handle);
  return b;
}

export function decodeSimpleReply(b: Buffer, at = 0): SimpleReply {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_SIMPLE_REPLY_MAGIC) {
    throw new NbdProtocolError('BAD_MAGIC', `reply magic 0x${magic.toString(16)} is not a simple reply`);
  }
  return { error: b.readUInt32BE(at + 4), handle: b.readBigUInt64BE(at + 8) };
}
