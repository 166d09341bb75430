/**
 * The client's answer to the greeting (proto.md "Client flags"): 32 bits of flags.
 *
 * "Clients MUST NOT set any other flags; the server MUST drop the TCP connection if the client
 * sets an unknown flag, or a flag that does not match something advertised by the server."
 * `checkClientFlags` enforces that against the handshake flags the server sent.
 */
import { NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_NO_ZEROES } from './constants.js';
import { NbdProtocolError } from './errors.js';

export const CLIENT_FLAGS_SIZE = 4;

export interface ClientFlags {
  fixedNewstyle: boolean;
  noZeroes: boolean;
  /** The raw field, unknown bits included. */
  raw: number;
}

export function decodeClientFlags(b: Buffer): ClientFlags {
  const raw = b.readUInt32BE(0);
  return {
    fixedNewstyle: (raw & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0,
    noZeroes: (raw & NBD_FLAG_C_NO_ZEROES) !== 0,
    raw,
  };
}

export function encodeClientFlags(f: { fixedNewstyle: boolean; noZeroes: boolean }): Buffer {
  const b = Buffer.alloc(CLIENT_FLAGS_SIZE);
  b.writeUInt32BE(
    (f.fixedNewstyle ? NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (f.noZeroes ? NBD_FLAG_C_NO_ZEROES : 0),
  );
  return b;
}

/** Throws (drop the connection) when the client set a flag the server did not offer. */
export function checkClientFlags(f: ClientFlags, handshakeFlags: number): void {
  let allowed = NBD_FLAG_C_FIXED_NEWSTYLE;
  if (handshakeFlags & NBD_FLAG_NO_ZEROES) allowed |= NBD_FLAG_C_NO_ZEROES;
  if ((f.raw & ~allowed) >>> 0 !== 0) {
    throw new NbdProtocolError(
      'BAD_CLIENT_FLAGS',
      `client flags 0x${f.raw.toString(16)} set bits the server did not offer`,
    );
  }
}
