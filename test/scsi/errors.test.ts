/**
 * Block errors become sense data in exactly one function (senseFromBlockError); a device that
 * fails a request gives the command that sense, never CHECK CONDITION with NO SENSE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import { BLOCK_ERROR_CODES, BlockError, type BlockErrorCode } from '../../src/util/index.js';
import { ASC, decodeSense, ScsiStatus, senseFromBlockError, SenseKey } from '../../src/scsi/index.js';
import { cdb10, checkCondition, ready, run } from './helpers.js';

test('every BlockError code maps to a sense key other than NO SENSE', () => {
  const expected: Record<BlockErrorCode, [number, number, number]> = {
    OUT_OF_RANGE: [SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE, ASC.LBA_OUT_OF_RANGE],
    INVALID: [SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, ASC.INVALID_FIELD_IN_CDB],
    READ_ONLY: [SenseKey.DATA_PROTECT, ASC.WRITE_PROTECTED, ASC.WRITE_PROTECTED],
    NO_SPACE: [
      SenseKey.DATA_PROTECT,
      ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
      ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT,
    ],
    IO: [SenseKey.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, ASC.WRITE_ERROR],
    NOT_SUPPORTED: [SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, ASC.INVALID_FIELD_IN_CDB],
    CORRUPT: [SenseKey.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, ASC.WRITE_ERROR],
    LOCKED: [SenseKey.NOT_READY, ASC.MEDIUM_NOT_PRESENT, ASC.MEDIUM_NOT_PRESENT],
    NOT_FOUND: [SenseKey.NOT_READY, ASC.MEDIUM_NOT_PRESENT, ASC.MEDIUM_NOT_PRESENT],
    BAD_FORMAT: [SenseKey.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, ASC.WRITE_ERROR],
  };
  for (const code of BLOCK_ERROR_CODES) {
    const [key, readAsc, writeAsc] = expected[code];
    const r = senseFromBlockError(new BlockError(code, 'x'), 'read');
    const w = senseFromBlockError(new BlockError(code, 'x'), 'write');
    assert.deepEqual([r.key, r.asc, w.asc], [key, readAsc, writeAsc], code);
  }
  const bug = senseFromBlockError(new TypeError('oops'), 'read');
  assert.deepEqual([bug.key, bug.asc], [SenseKey.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE]);
});

class FailingDevice extends MemoryDevice {
  failWith: BlockErrorCode | undefined;
  override async read(offset: number, buf: Buffer): Promise<void> {
    if (this.failWith) throw new BlockError(this.failWith, 'injected');
    return super.read(offset, buf);
  }
  override async write(offset: number, data: Buffer): Promise<void> {
    if (this.failWith) throw new BlockError(this.failWith, 'injected');
    return super.write(offset, data);
  }
  override async flush(): Promise<void> {
    if (this.failWith) throw new BlockError(this.failWith, 'injected');
  }
}

test('device failures reach the initiator as MEDIUM ERROR / SPACE ALLOCATION FAILED', async () => {
  const dev = new FailingDevice(1024 * 1024);
  const f = await ready({}, dev);
  dev.failWith = 'IO';
  checkCondition(await run(f.target, cdb10(0x28, 0, 1)), SenseKey.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR);
  checkCondition(
    await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }),
    SenseKey.MEDIUM_ERROR,
    ASC.WRITE_ERROR,
  );
  checkCondition(await run(f.target, cdb10(0x35, 0, 0)), SenseKey.MEDIUM_ERROR, ASC.WRITE_ERROR);
  dev.failWith = 'NO_SPACE';
  const r = await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) });
  checkCondition(r, SenseKey.DATA_PROTECT, ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT);
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION);
  assert.notEqual(decodeSense(r.sense!).key, SenseKey.NO_SENSE);
});
