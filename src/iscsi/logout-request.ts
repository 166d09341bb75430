/**
 * Logout Request PDU (RFC 7143 §11.14):
 *
 *     byte 0      .|I| 0x06
 *     byte 1      1| Reason Code      (§11.14.1: 0 close session, 1 close connection,
 *                                      2 remove the connection for recovery)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-21 CID (reason 1 or 2) or reserved
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface LogoutRequestPdu {
  immediate: boolean;
  reason: number;
  dataSegmentLength: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

export function decodeLogoutRequest(b: Buffer): LogoutRequestPdu {
  return {
    immediate: (b[0]! & 0x40) !== 0,
    reason: b[1]! & 0x7f,
    dataSegmentLength: bhsDataSegmentLength(b),
    itt: b.readUInt32BE(16),
    cid: b.readUInt16BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
  };
}

export function encodeLogoutRequest(p: LogoutRequestPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.LOGOUT_REQUEST, p.immediate, 0x80 | (p.reason & 0x7f), 0, p.dataSegmentLength);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt16BE(p.cid, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  return b;
}
