/**
 * Asynchronous Message PDU (RFC 7143 §11.9), target to initiator:
 *
 *     byte 1      1|.......
 *     bytes 4-7   TotalAHSLength (0), DataSegmentLength (sense and vendor data)
 *     bytes 8-15  LUN or reserved
 *     bytes 16-19 0xffffffff
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 *     byte 36     AsyncEvent (§11.9.1), byte 37 AsyncVCode
 *     bytes 38-43 Parameter1, Parameter2, Parameter3
 *
 * vdisk sends AsyncEvent 1 (logout requested; Parameter3 = seconds the initiator has to log out)
 * when the server drains.
 */
import { OP, RESERVED_TAG } from './constants.js';
import {
  bhsBuffer,
  bhsDataSegmentLength,
  decodeTargetSequence,
  encodeTargetSequence,
  writeBhsStart,
} from './bhs.js';

export interface AsyncMessagePdu {
  dataSegmentLength: number;
  lun: bigint;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  asyncEvent: number;
  asyncVCode: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
}

export function decodeAsyncMessage(b: Buffer): AsyncMessagePdu {
  return {
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    ...decodeTargetSequence(b),
    asyncEvent: b[36]!,
    asyncVCode: b[37]!,
    parameter1: b.readUInt16BE(38),
    parameter2: b.readUInt16BE(40),
    parameter3: b.readUInt16BE(42),
  };
}

export function encodeAsyncMessage(p: AsyncMessagePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.ASYNC_MESSAGE, false, 0x80, 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(RESERVED_TAG, 16);
  encodeTargetSequence(b, p);
  b[36] = p.asyncEvent;
  b[37] = p.asyncVCode;
  b.writeUInt16BE(p.parameter1, 38);
  b.writeUInt16BE(p.parameter2, 40);
  b.writeUInt16BE(p.parameter3, 42);
  return b;
}
