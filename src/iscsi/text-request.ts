/**
 * Text Request PDU (RFC 7143 §11.10):
 *
 *     byte 0      .|I| 0x04
 *     byte 1      F|C|......         (C: the text continues in the next PDU, §11.10.2)
 *     bytes 4-7   TotalAHSLength, DataSegmentLength (key=value pairs)
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Target Transfer Tag (0xffffffff for a new request, else the response's TTT)
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface TextRequestPdu {
  immediate: boolean;
  final: boolean;
  continue: boolean;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
}

export function decodeTextRequest(b: Buffer): TextRequestPdu {
  return {
    immediate: (b[0]! & 0x40) !== 0,
    final: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
  };
}

export function encodeTextRequest(p: TextRequestPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 = (p.final ? 0x80 : 0) | (p.continue ? 0x40 : 0);
  writeBhsStart(b, OP.TEXT_REQUEST, p.immediate, byte1, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  return b;
}
