/**
 * SCSI Command PDU (RFC 7143 §11.3), initiator to target:
 *
 *     byte 0      .|I| 0x01
 *     byte 1      F|R|W|.|.|ATTR     (R: read, W: write, ATTR: task attribute, §11.3.1)
 *     bytes 4-7   TotalAHSLength, DataSegmentLength (immediate data)
 *     bytes 8-15  LUN
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Expected Data Transfer Length
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN
 *     bytes 32-47 SCSI Command Descriptor Block (an extended CDB continues in an AHS, §11.2.2.3)
 */
import { OP } from './constants.js';
import { bhsAhsLength, bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface ScsiCommandPdu {
  immediate: boolean;
  final: boolean;
  read: boolean;
  write: boolean;
  /** ATTR (§11.3.1): 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
  attr: number;
  ahsLength: number;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** The 16 CDB bytes of the BHS. */
  cdb: Buffer;
}

export function decodeScsiCommand(b: Buffer): ScsiCommandPdu {
  return {
    immediate: (b[0]! & 0x40) !== 0,
    final: (b[1]! & 0x80) !== 0,
    read: (b[1]! & 0x40) !== 0,
    write: (b[1]! & 0x20) !== 0,
    attr: b[1]! & 0x07,
    ahsLength: bhsAhsLength(b),
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    expectedDataTransferLength: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    cdb: b.subarray(32, 48),
  };
}

export function encodeScsiCommand(p: ScsiCommandPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 = (p.final ? 0x80 : 0) | (p.read ? 0x40 : 0) | (p.write ? 0x20 : 0) | (p.attr & 7);
  writeBhsStart(b, OP.SCSI_COMMAND, p.immediate, byte1, p.ahsLength, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.expectedDataTransferLength, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  p.cdb.copy(b, 32, 0, Math.min(16, p.cdb.length));
  return b;
}
