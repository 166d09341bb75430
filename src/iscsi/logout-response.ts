/**
 * Logout Response PDU (RFC 7143 §11.15):
 *
 *     byte 1      1|.......
 *     byte 2      Response (§11.15.1)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     bytes 40-41 Time2Wait
 *     bytes 42-43 Time2Retain
 */
import { OP } from './constants.js';
import { bhsBuffer, decodeTargetSequence, encodeTargetSequence, writeBhsStart } from './bhs.js';

export interface LogoutResponsePdu {
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait: number;
  time2Retain: number;
}

export function decodeLogoutResponse(b: Buffer): LogoutResponsePdu {
  return {
    response: b[2]!,
    itt: b.readUInt32BE(16),
    ...decodeTargetSequence(b),
    time2Wait: b.readUInt16BE(40),
    time2Retain: b.readUInt16BE(42),
  };
}

export function encodeLogoutResponse(p: LogoutResponsePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.LOGOUT_RESPONSE, false, 0x80, 0, 0);
  b[2] = p.response;
  b.writeUInt32BE(p.itt, 16);
  encodeTargetSequence(b, p);
  b.writeUInt16BE(p.time2Wait, 40);
  b.writeUInt16BE(p.time2Retain, 42);
  return b;
}
