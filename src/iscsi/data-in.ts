/**
 * SCSI Data-In PDU (RFC 7143 §11.7), target to initiator:
 *
 *     byte 1      F|A|.|.|.|O|U|S    (A: acknowledge (ERL >= 1 only), O/U: residual
 *                                     overflow/underflow, S: status included, §11.7.1-§11.7.3)
 *     byte 3      Status (valid when S)
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength
 *     bytes 8-15  LUN (with the A bit) or reserved
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Target Transfer Tag (with the A bit) or 0xffffffff
 *     bytes 24-27 StatSN (when S) or reserved
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     bytes 36-39 DataSN
 *     bytes 40-43 Buffer Offset
 *     bytes 44-47 Residual Count (when S)
 *
 * `encodeDataIn` is on the hot path of every read: it writes only the fields that can be
 * non-zero into a buffer the caller cleared or took from a slab.
 */
import { OP } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface DataInPdu {
  final: boolean;
  acknowledge: boolean;
  overflow: boolean;
  underflow: boolean;
  statusPresent: boolean;
  status: number;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  residualCount: number;
}

export function decodeDataIn(b: Buffer): DataInPdu {
  return {
    final: (b[1]! & 0x80) !== 0,
    acknowledge: (b[1]! & 0x40) !== 0,
    overflow: (b[1]! & 0x04) !== 0,
    underflow: (b[1]! & 0x02) !== 0,
    statusPresent: (b[1]! & 0x01) !== 0,
    status: b[3]!,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    ...decodeTargetSequence(b),
    dataSN: b.readUInt32BE(36),
    bufferOffset: b.readUInt32BE(40),
    residualCount: b.readUInt32BE(44),
  };
}

export function encodeDataIn(p: DataInPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 =
    (p.final ? 0x80 : 0) |
    (p.acknowledge ? 0x40 : 0) |
    (p.overflow ? 0x04 : 0) |
    (p.underflow ? 0x02 : 0) |
    (p.statusPresent ? 0x01 : 0);
  writeBhsStart(b, OP.DATA_IN, false, byte1, 0, p.dataSegmentLength);
  b[3] = p.status;
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  encodeTargetSequence(b, p);
  b.writeUInt32BE(p.dataSN, 36);
  b.writeUInt32BE(p.bufferOffset, 40);
  b.writeUInt32BE(p.residualCount, 44);
  return b;
}
