/**
 * An option reply of the fixed newstyle negotiation (proto.md "Fixed newstyle negotiation"):
 *
 *     S: 64 bits, 0x3e889045565a9 (magic number for replies)
 *     S: 32 bits, the option as sent by the client to which this is a reply
 *     S: 32 bits, reply type (NBD_REP_*)
 *     S: 32 bits, length of the reply
 *     S: any data as required by the reply
 *
 * Error replies (bit 31 of the type) carry a message "suitable for display to the user".
 */
import { OPTION_REPLY_MAGIC } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const OPTION_REPLY_HEADER_SIZE = 20;

export interface OptionReplyHeader {
  option: number;
  type: number;
  length: number;
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(OPTION_REPLY_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, OPTION_REPLY_HEADER_SIZE);
  return b;
}

/** An error reply with a human-readable message (UTF-8, cut to the spec's 4096-byte limit). */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, Buffer.from(message, 'utf8').subarray(0, 4096));
}

/** Decodes a reply header (what a client reads). Throws on a wrong magic. */
export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  if (b.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) {
    throw new NbdProtocolError('BAD_MAGIC', 'an option reply does not start with the reply magic');
  }
  return { option: b.readUInt32BE(8), type: b.readUInt32BE(12), length: b.readUInt32BE(16) };
}
