/**
 * NOP-Out PDU (RFC 7143 §11.18), initiator to target:
 *
 *     byte 0      .|I| 0x00
 *     byte 1      1|.......
 *     bytes 4-7   TotalAHSLength, DataSegmentLength (ping data)
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 Initiator Task Tag (0xffffffff when answering a NOP-In; then I must be set)
 *     bytes 20-23 Target Transfer Tag (the NOP-In's TTT, or 0xffffffff)
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface NopOutPdu {
  immediate: boolean;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
}

export function decodeNopOut(b: Buffer): NopOutPdu {
  return {
    immediate: (b[0]! & 0x40) !== 0,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
  };
}

export function encodeNopOut(p: NopOutPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.NOP_OUT, p.immediate, 0x80, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  return b;
}
