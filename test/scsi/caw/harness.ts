/**
 * Runs COMPARE AND WRITE / EXTENDED COPY / RECEIVE COPY RESULTS CDBs (and the READ/WRITE (16)
 * around them) through a test target's ScsiTarget, as any transport would: the core's command
 * table carries CAW_COMMANDS and XCOPY_COMMANDS, so dispatch, usage data checks, unit attentions,
 * reservations and sense formats are the core's.
 */
import type { ScsiResponse } from '../../../src/scsi/index.js';
import { run, type Fixture, type RunOptions } from '../helpers.js';

export function exec(f: Pick<Fixture, 'target'>, cdb: Buffer, o: RunOptions = {}): Promise<ScsiResponse> {
  return run(f.target, cdb, o);
}

/** READ (16) / WRITE (16) CDBs. */
export function rw16(opcode: 0x88 | 0x8a, lba: number, blocks: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = opcode;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(blocks, 10);
  return b;
}
