/**
 * SNACK Request PDU (RFC 7143 §11.16), initiator to target:
 *
 *     byte 1      1|.|.|.|Type       (§11.16.1: 0 Data/R2T, 1 Status, 2 DataACK, 3 R-Data)
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 Initiator Task Tag or 0xffffffff
 *     bytes 20-23 Target Transfer Tag or SNACK Tag
 *     bytes 28-31 ExpStatSN
 *     bytes 36-39 BegRun
 *     bytes 40-43 RunLength
 *
 * vdisk negotiates ErrorRecoveryLevel 0, where an initiator has no business sending SNACK
 * (§7.1.5: SNACK support comes with ErrorRecoveryLevel > 0): every SNACK is answered with a
 * Reject, reason "Protocol Error", as LIO does.
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface SnackPdu {
  type: number;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  tttOrSnackTag: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

export function decodeSnack(b: Buffer): SnackPdu {
  return {
    type: b[1]! & 0x0f,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    tttOrSnackTag: b.readUInt32BE(20),
    expStatSN: b.readUInt32BE(28),
    begRun: b.readUInt32BE(36),
    runLength: b.readUInt32BE(40),
  };
}

export function encodeSnack(p: SnackPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.SNACK_REQUEST, false, 0x80 | (p.type & 0x0f), 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.tttOrSnackTag, 20);
  b.writeUInt32BE(p.expStatSN, 28);
  b.writeUInt32BE(p.begRun, 36);
  b.writeUInt32BE(p.runLength, 40);
  return b;
}
