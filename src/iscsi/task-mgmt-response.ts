/**
 * Task Management Function Response PDU (RFC 7143 §11.6):
 *
 *     byte 1      1|.......
 *     byte 2      Response (§11.6.1)
 *     bytes 16-19 Initiator Task Tag
 *     bytes 24-27 StatSN
 *     bytes 28-31 ExpCmdSN
 *     bytes 32-35 MaxCmdSN
 */
import { OP } from './constants.js';
import { bhsBuffer, decodeTargetSequence, encodeTargetSequence, writeBhsStart } from './bhs.js';

export interface TaskMgmtResponsePdu {
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export function decodeTaskMgmtResponse(b: Buffer): TaskMgmtResponsePdu {
  return {
    response: b[2]!,
    itt: b.readUInt32BE(16),
    ...decodeTargetSequence(b),
  };
}

export function encodeTaskMgmtResponse(p: TaskMgmtResponsePdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.TASK_MGMT_RESPONSE, false, 0x80, 0, 0);
  b[2] = p.response;
  b.writeUInt32BE(p.itt, 16);
  encodeTargetSequence(b, p);
  return b;
}
