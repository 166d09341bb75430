/**
 * The newstyle greeting, the first bytes on a connection (proto.md "Newstyle negotiation"):
 *
 *     S: 64 bits, NBDMAGIC
 *     S: 64 bits, IHAVEOPT
 *     S: 16 bits, handshake flags (NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES)
 */
import { IHAVEOPT, NBDMAGIC } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const GREETING_SIZE = 18;

export interface Greeting {
  handshakeFlags: number;
}

export function encodeGreeting(g: Greeting): Buffer {
  const b = Buffer.alloc(GREETING_SIZE);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(g.handshakeFlags, 16);
  return b;
}

/** Decodes a server greeting (what a client reads). Throws on a wrong magic. */
export function decodeGreeting(b: Buffer): Greeting {
  if (b.length < GREETING_SIZE) throw new RangeError(`a greeting is ${GREETING_SIZE} bytes`);
  if (b.readBigUInt64BE(0) !== NBDMAGIC || b.readBigUInt64BE(8) !== IHAVEOPT) {
    throw new NbdProtocolError('BAD_MAGIC', 'not a newstyle NBD greeting');
  }
  return { handshakeFlags: b.readUInt16BE(16) };
}
