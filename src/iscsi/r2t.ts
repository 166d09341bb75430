/**
 * Ready To Transfer PDU (RFC 7143 §11.8), target to initiator:
 *
 *     byte 1      1|.......
 *     bytes 8-15  LUN
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Target Transfer Tag
 *     bytes 24-27 StatSN (the next StatSN; not advanced, §11.8)
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     bytes 36-39 R2TSN
 *     bytes 40-43 Buffer Offset
 *     bytes 44-47 Desired Data Transfer Length
 */
import { OP } from './constants.js';
import { bhsBuffer, decodeTargetSequence, encodeTargetSequence, writeBhsStart } from './bhs.js';

export interface R2tPdu {
  lun: bigint;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

export function decodeR2t(b: Buffer): R2tPdu {
  return {
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    ...decodeTargetSequence(b),
    r2tSN: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
    desiredDataTransferLength: b.readUInt32BE(44),
  };
}

export function encodeR2t(p: R2tPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.R2T, false, 0x80, 0, 0);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  encodeTargetSequence(b, p);
  b.writeUInt32BE(p.r2tSN, 36);
  b.writeUInt32BE(p.bufferOffset, 40);
  b.writeUInt32BE(p.desiredDataTransferLength, 44);
  return b;
}
