/**
 * NOP-In PDU (RFC 7143 §11.19), target to initiator:
 *
 *     byte 1      1|.......
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength (ping data)
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 Initiator Task Tag (the NOP-Out's, or 0xffffffff for a target ping)
 *     bytes 20-23 Target Transfer Tag (0xffffffff unless the target wants an answer)
 *     bytes 24-27 StatSN (advanced only when answering a NOP-Out, §11.19.3)
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 */
import { OP } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface NopInPdu {
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export function decodeNopIn(b: Buffer): NopInPdu {
  return {
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    ...decodeTargetSequence(b),
  };
}

export function encodeNopIn(p: NopInPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.NOP_IN, false, 0x80, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  encodeTargetSequence(b, p);
  return b;
}
