/**
 * The failures of an NBD connection, one class per level (STYLE.md convention 5):
 *
 * 1. A failed command is an NBD error value in the command's reply (errno.ts translates
 *    BlockErrors; the edge check in validate.ts answers the spec's errors directly).
 * 2. A rejected option is an NBD_REP_ERR_* reply; the option's bytes were consumed, so the
 *    negotiation goes on. `OptionError` carries the reply type and a message for the client.
 * 3. A dropped connection: the byte stream can no longer be trusted (a bad magic, unknown client
 *    flags, a length that cannot be skipped). `NbdProtocolError` says why; the connection is
 *    destroyed and the reason logged, nothing is sent.
 */

export const PROTOCOL_ERROR_CODES = [
  'BAD_MAGIC', // a magic number is not the one the spec requires
  'BAD_CLIENT_FLAGS', // unknown client flags: "the server MUST drop the TCP connection"
  'TOO_LARGE', // a length the server will not read or skip
  'UNKNOWN_EXPORT', // NBD_OPT_EXPORT_NAME for an export that does not exist (cannot error)
  'TLS_FAILED', // the TLS handshake after NBD_OPT_STARTTLS failed
  'TIMEOUT', // the handshake took too long
  'OUT_OF_RANGE', // a 64-bit field beyond what a JavaScript number holds exactly (2^53 - 1)
  'REPLY_LOST', // a read reply being sent from the file failed after its header went out
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class NbdProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'NbdProtocolError';
    this.code = code;
  }
}

/** An option the server answers with an error reply (`type` is one of NBD_REP.ERR_*). */
export class OptionError extends Error {
  readonly type: number;
  constructor(type: number, message: string) {
    super(message);
    this.name = 'OptionError';
    this.type = type;
  }
}

/**
 * Reads a 64-bit wire field as a number: the one checked place where NBD's 64-bit fields become
 * numbers (STYLE.md convention 4). A value past 2^53 - 1 cannot be a real offset, length or size
 * here, and rounding it silently would read or report the wrong bytes, so it drops the stream.
 */
export function readWireU64(b: Buffer, at: number, what: string): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NbdProtocolError('OUT_OF_RANGE', `${what} ${v} is beyond 2^53 - 1`);
  }
  return Number(v);
}
