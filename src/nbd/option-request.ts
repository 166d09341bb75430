/**
 * An option request of the fixed newstyle negotiation (proto.md "Newstyle negotiation"):
 *
 *     C: 64 bits, IHAVEOPT
 *     C: 32 bits, option
 *     C: 32 bits, length of option data (unsigned)
 *     C: any data needed for the chosen option, of length as specified above
 *
 * `decodeOptionHeader` reads the 16-byte header; the parser (option-parser.ts) checks the length
 * against its cap before it buffers the data.
 */
import { IHAVEOPT } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const OPTION_HEADER_SIZE = 16;

export interface OptionHeader {
  option: number;
  length: number;
}

export function decodeOptionHeader(b: Buffer): OptionHeader {
  if (b.readBigUInt64BE(0) !== IHAVEOPT) {
    throw new NbdProtocolError('BAD_MAGIC', 'an option request does not start with IHAVEOPT');
  }
  return { option: b.readUInt32BE(8), length: b.readUInt32BE(12) };
}

/** Encodes a whole option request, header and data (for clients and tests). */
export function encodeOptionRequest(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(OPTION_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_SIZE);
  return b;
}
