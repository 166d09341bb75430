/**
 * Text Response PDU (RFC 7143 §11.11):
 *
 *     byte 1      F|C|......
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Target Transfer Tag (0xffffffff when F is set, else a tag for the next
 *                 request of the sequence, §11.11.4)
 *     bytes 24-27 StatSN
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

export interface TextResponsePdu {
  final: boolean;
  continue: boolean;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export function decodeTextResponse(b: Buffer): TextResponsePdu {
  return {
    final: (b[1]! & 0x80) !== 0,
    continue: (b[1]! & 0x40) !== 0,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    ttt: b.readUInt32BE(20),
    ...decodeTargetSequence(b),
  };
}

export function encodeTextResponse(p: TextResponsePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  const byte1 = (p.final ? 0x80 : 0) | (p.continue ? 0x40 : 0);
  writeBhsStart(b, OP.TEXT_RESPONSE, false, byte1, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.ttt, 20);
  encodeTargetSequence(b, p);
  return b;
}
