/**
 * SCSI Response PDU (RFC 7143 §11.4), target to initiator:
 *
 *     byte 1      1|.|.|o|u|O|U|.    (o/u: bidirectional read residual overflow/underflow,
 *                                     O/U: residual overflow/underflow, §11.4.5)
 *     byte 2      Response (§11.4.3)
 *     byte 3      Status (SAM status, valid when Response is 0x00)
 *     bytes 4-7   TotalAHSLength, DataSegmentLength
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 SNACK Tag or reserved
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     bytes 36-39 ExpDataSN or reserved
 *     bytes 40-43 Bidirectional Read Residual Count
 *     bytes 44-47 Residual Count
 *
 * The data segment, when there is sense data, is SenseLength (2 bytes) and the sense data
 * (§11.4.7); `senseDataSegment` builds it.
 */
import { OP } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface ScsiResponsePdu {
  bidiOverflow: boolean;
  bidiUnderflow: boolean;
  overflow: boolean;
  underflow: boolean;
  response: number;
  status: number;
  dataSegmentLength: number;
  itt: number;
  snackTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN: number;
  bidiResidualCount: number;
  residualCount: number;
}

export function decodeScsiResponse(b: Buffer): ScsiResponsePdu {
  return {
    bidiOverflow: (b[1]! & 0x10) !== 0,
    bidiUnderflow: (b[1]! & 0x08) !== 0,
    overflow: (b[1]! & 0x04) !== 0,
    underflow: (b[1]! & 0x02) !== 0,
    response: b[2]!,
    status: b[3]!,
    dataSegmentLength: bhsDataSegmentLength(b),
    itt: b.readUInt32BE(16),
    snackTag: b.readUInt32BE(20),
    ...decodeTargetSequence(b),
    expDataSN: b.readUInt32BE(36),
    bidiResidualCount: b.readUInt32BE(40),
    residualCount: b.readUInt32BE(44),
  };
}

export function encodeScsiResponse(p: ScsiResponsePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 =
    0x80 |
    (p.bidiOverflow ? 0x10 : 0) |
    (p.bidiUnderflow ? 0x08 : 0) |
    (p.overflow ? 0x04 : 0) |
    (p.underflow ? 0x02 : 0);
  writeBhsStart(b, OP.SCSI_RESPONSE, false, byte1, 0, p.dataSegmentLength);
  b[2] = p.response;
  b[3] = p.status;
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.snackTag, 20);
  encodeTargetSequence(b, p);
  b.writeUInt32BE(p.expDataSN, 36);
  b.writeUInt32BE(p.bidiResidualCount, 40);
  b.writeUInt32BE(p.residualCount, 44);
  return b;
}

/** The data segment for sense data: SenseLength (2 bytes, big-endian) then the sense bytes. */
export function senseDataSegment(sense: Buffer): Buffer {
  const d = Buffer.allocUnsafe(2 + sense.length);
  d.writeUInt16BE(sense.length, 0);
  sense.copy(d, 2);
  return d;
}
