/**
 * Task Management Function Request PDU (RFC 7143 §11.5):
 *
 *     byte 0      .|I| 0x02
 *     byte 1      1| Function         (§11.5.1)
 *     bytes 8-15  LUN
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-23 Referenced Task Tag (ABORT TASK, QUERY TASK, TASK REASSIGN) or 0xffffffff
 *     bytes 24-27 CmdSN
 *     bytes 28-31 ExpStatSN
 *     bytes 32-35 RefCmdSN
 *     bytes 36-39 ExpDataSN
 */
import { OP } from './constants.js';
import { bhsBuffer, bhsDataSegmentLength, writeBhsStart } from './bhs.js';

export interface TaskMgmtRequestPdu {
  immediate: boolean;
  function: number;
  dataSegmentLength: number;
  lun: bigint;
  itt: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}

export function decodeTaskMgmtRequest(b: Buffer): TaskMgmtRequestPdu {
  return {
    immediate: (b[0]! & 0x40) !== 0,
    function: b[1]! & 0x7f,
    dataSegmentLength: bhsDataSegmentLength(b),
    lun: b.readBigUInt64BE(8),
    itt: b.readUInt32BE(16),
    referencedTaskTag: b.readUInt32BE(20),
    cmdSN: b.readUInt32BE(24),
    expStatSN: b.readUInt32BE(28),
    refCmdSN: b.readUInt32BE(32),
    expDataSN: b.readUInt32BE(36),
  };
}

export function encodeTaskMgmtRequest(p: TaskMgmtRequestPdu, into?: Buffer): Buffer {
  const b = bhsBuffer(into);
  writeBhsStart(b, OP.TASK_MGMT_REQUEST, p.immediate, 0x80 | (p.function & 0x7f), 0, p.dataSegmentLength);
  b.writeBigUInt64BE(p.lun, 8);
  b.writeUInt32BE(p.itt, 16);
  b.writeUInt32BE(p.referencedTaskTag, 20);
  b.writeUInt32BE(p.cmdSN, 24);
  b.writeUInt32BE(p.expStatSN, 28);
  b.writeUInt32BE(p.refCmdSN, 32);
  b.writeUInt32BE(p.expDataSN, 36);
  return b;
}
