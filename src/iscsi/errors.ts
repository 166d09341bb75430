/**
 * The failures of an iSCSI connection, one class per level (STYLE.md convention 5):
 *
 * 1. A failed command is a SCSI status with sense data, from the SCSI core (or, for transport
 *    failures of one task, sense built here: ABORTED COMMAND with the iSCSI ASCs of SPC-4).
 * 2. A rejected PDU gets a Reject PDU (RFC 7143 §11.17) with a reason code; the PDU's bytes were
 *    consumed, so the connection goes on. `IscsiPduError` carries the reason, and `drop` when
 *    RFC 7143 (at ErrorRecoveryLevel 0) leaves no way to continue after the Reject.
 * 3. A dropped connection: the byte stream can no longer be trusted (a header digest error, a
 *    length past every cap). `IscsiProtocolError` says why; the connection is destroyed and the
 *    reason logged.
 *
 * Login failures are `LoginError`s: a Login Response with a Status-Class/Status-Detail
 * (RFC 7143 §11.13.5), after which the target closes the connection.
 */
import { LOGIN_STATUS, type LoginStatus } from './constants.js';

export const PROTOCOL_ERROR_CODES = [
  'HEADER_DIGEST', // a header digest mismatch: nothing after it can be framed (§7.8)
  'TOO_LARGE', // a length beyond the caps that cannot be skipped safely
  'LOGIN', // a PDU that is not allowed while logging in
  'TIMEOUT', // login or NOP-In ping not answered in time
  'SEQUENCE', // a data sequence error that ERL 0 cannot recover (§7.1.4)
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class IscsiProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'IscsiProtocolError';
    this.code = code;
  }
}

/** A PDU answered with a Reject of `reason`; `drop` closes the connection after the Reject. */
export class IscsiPduError extends Error {
  readonly reason: number;
  readonly drop: boolean;
  constructor(reason: number, message: string, opts: { drop?: boolean } = {}) {
    super(message);
    this.name = 'IscsiPduError';
    this.reason = reason;
    this.drop = opts.drop ?? false;
  }
}

/** A login that ends with a non-zero Status-Class (the connection is closed after it). */
export class LoginError extends Error {
  readonly status: LoginStatus;
  constructor(status: LoginStatus, message: string) {
    super(message);
    this.name = 'LoginError';
    this.status = status;
  }
}

const STATUS_NAMES = new Map<number, string>(
  Object.entries(LOGIN_STATUS).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, ' ')]),
);

/** "authentication failure (0201)" for log lines and test messages. */
export function loginStatusName(status: number): string {
  const hex = status.toString(16).padStart(4, '0');
  return `${STATUS_NAMES.get(status) ?? 'unknown status'} (${hex})`;
}
