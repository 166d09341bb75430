/**
 * Reject PDU (RFC 7143 §11.17):
 *
 *     byte 1      1|.......
 *     byte 2      Reason (§11.17.1)
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength (48: the rejected PDU's header)
 *     bytes 16-19 0xffffffff
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     bytes 36-39 DataSN/R2TSN (for a rejected SNACK) or reserved
 *
 * The data segment is the complete header (BHS, §11.17.3 "Complete Header of Bad PDU") of the
 * rejected PDU.
 */
import { OP, RESERVED_TAG } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface RejectPdu {
  reason: number;
  dataSegmentLength: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
}

export function decodeReject(b: Buffer): RejectPdu {
  return {
    reason: b[2]!,
    dataSegmentLength: bhsDataSegmentLength(b),
    ...decodeTargetSequence(b),
    dataSN: b.readUInt32BE(36),
  };
}

export function encodeReject(p: RejectPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.REJECT, false, 0x80, 0, p.dataSegmentLength);
  b[2] = p.reason;
  b.writeUInt32BE(RESERVED_TAG, 16);
  encodeTargetSequence(b, p);
  b.writeUInt32BE(p.dataSN, 36);
  return b;
}
