/**
 * SCSI Data-Out PDU (RFC 7143 §11.7), initiator to target:
 *
 *     byte 1      F|.......
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength
 *     bytes 8-15  LUN (when the TTT is not 0xffffffff)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Target Transfer Tag (from the R2T; 0xffffffff for unsolicited data)
 *     bytes 28-31 ExpStatSN
 *     bytes 36-39 DataSN (per R2T sequence, or per unsolicited burst, from 0)
 *     bytes 40-43 Buffer Offset
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface DataOutPdu {
  final: boolean;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
}

export function decodeDataOut(b: Buffer): DataOutPdu {
  return {
    final: (b[1]! & 0x80) !== 0,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    expStatSN: b.readUInt32BE(28),
    dataSN: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
  };
}

export function encodeDataOut(p: DataOutPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.DATA_OUT, false, p.final ? 0x80 : 0, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  b.writeUInt32BE(p.expStatSN, 28);
  b.writeUInt32BE(p.dataSN, 36);
  b.writeUInt32BE(p.bufferOffset, 40);
  return b;
}
