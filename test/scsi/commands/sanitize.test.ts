/** SANITIZE BLOCK ERASE and EXIT FAILURE MODE: erase, IMMED with progress, refusals, failure mode. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/block/index.js';
import { ASC, decodeSense, SenseKey } from '../../../src/scsi/index.js';
import { decodeLbaStatus } from '../../../src/scsi/data/lba-status.js';
import { BlockError } from '../../../src/util/index.js';
import { GatedDevice, settle } from '../gated-device.js';
import { cdb10, cdb16, checkCondition, good, invalidField, MIB, ready, run } from '../helpers.js';

const sanitizeCdb = (sa: number, { immed = false, ause = false, len = 0 } = {}) => [
  0x48,
  (immed ? 0x80 : 0) | (ause ? 0x20 : 0) | sa,
  0,
  0,
  0,
  0,
  0,
  len >> 8,
  len & 0xff,
  0,
];

test('BLOCK ERASE deallocates every block; reads return zeroes', async () => {
  const f = await ready({ discard: 'on' });
  good(await run(f.target, cdb10(0x2a, 0, 256), { dataOut: Buffer.alloc(256 * 512, 0x61) }));
  good(await run(f.target, cdb10(0x2a, 32768 - 256, 256), { dataOut: Buffer.alloc(256 * 512, 0x61) }));
  good(await run(f.target, sanitizeCdb(2)));
  assert.ok((await run(f.target, cdb10(0x28, 0, 256))).dataIn!.every((x) => x === 0));
  const st = decodeLbaStatus((await run(f.target, cdb16(0x9e, 0, 256, 0x12))).dataIn!);
  assert.deepEqual(st, [{ lba: 0n, blocks: 32768, status: 1 }]);
  invalidField(await run(f.target, sanitizeCdb(2, { len: 8 }), { dataOut: Buffer.alloc(8) }), 7);
  invalidField(await run(f.target, sanitizeCdb(0x1f, { len: 8 }), { dataOut: Buffer.alloc(8) }), 7);
  good(await run(f.target, sanitizeCdb(0x1f)));
  for (const sa of [0, 1, 3, 4, 0x10, 0x1e]) invalidField(await run(f.target, sanitizeCdb(sa)), 1, 4);
  invalidField(await run(f.target, [0x48, 0x42, 0, 0, 0, 0, 0, 0, 0, 0]), 1, 6);
  invalidField(await run(f.target, [0x48, 0x02, 0, 0, 5, 0, 0, 0, 0, 0]), 4, 2);
});

test('SANITIZE is not offered without discard=on, and a read-only LU refuses it', async () => {
  const f = await ready();
  checkCondition(
    await run(f.target, sanitizeCdb(2)),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_COMMAND_OPERATION_CODE,
  );
  const ro = await ready({ discard: 'on', readOnly: true });
  checkCondition(await run(ro.target, sanitizeCdb(2)), SenseKey.DATA_PROTECT, ASC.WRITE_PROTECTED);
});

test('IMMED: commands get SANITIZE IN PROGRESS with a progress indication until the erase ends', async () => {
  const dev = new GatedDevice(16 * MIB);
  dev.open();
  const f = await ready({ discard: 'on' }, dev);
  // The gate holds writeZeroes through write(): MemoryDevice.writeZeroes does not call write, so
  // hold the erase with a slow flush instead.
  let release!: () => void;
  dev.flush = () => new Promise<void>((r) => (release = r));
  good(await run(f.target, sanitizeCdb(2, { immed: true })));
  await settle();
  const tur = await run(f.target, [0, 0, 0, 0, 0, 0]);
  checkCondition(tur, SenseKey.NOT_READY, ASC.SANITIZE_IN_PROGRESS);
  assert.equal(decodeSense(tur.sense!).senseKeySpecific, 0x800000 | 0xffff);
  checkCondition(await run(f.target, cdb10(0x28, 0, 1)), SenseKey.NOT_READY, ASC.SANITIZE_IN_PROGRESS);
  good(await run(f.target, [0x12, 0, 0, 0, 96, 0]));
  const rs = await run(f.target, [0x03, 0, 0, 0, 18, 0]);
  good(rs);
  assert.equal(decodeSense(rs.dataIn!).asc, ASC.SANITIZE_IN_PROGRESS);
  // A logical unit reset does not stop it.
  await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'logical-unit-reset' });
  assert.equal(f.lu.sanitize.kind, 'running');
  let drained = false;
  const drain = f.lu.drain().then(() => (drained = true));
  await settle();
  assert.equal(drained, false, 'drain waits for the background erase');
  release();
  await drain;
  assert.equal(f.lu.sanitize.kind, 'idle');
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0]),
    SenseKey.UNIT_ATTENTION,
    ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0]));
});

class BrokenZero extends MemoryDevice {
  broken = true;
  override async writeZeroes(offset: number, length: number): Promise<void> {
    if (this.broken) throw new BlockError('IO', 'injected');
    return super.writeZeroes(offset, length);
  }
}

test('a failed erase enters sanitize failure mode; AUSE decides whether EXIT FAILURE MODE leaves it', async () => {
  const dev = new BrokenZero(MIB);
  const f = await ready({ discard: 'on' }, dev);
  checkCondition(await run(f.target, sanitizeCdb(2)), SenseKey.MEDIUM_ERROR, ASC.SANITIZE_COMMAND_FAILED);
  checkCondition(await run(f.target, cdb10(0x28, 0, 1)), SenseKey.MEDIUM_ERROR, ASC.SANITIZE_COMMAND_FAILED);
  good(await run(f.target, [0x12, 0, 0, 0, 96, 0]));
  invalidField(await run(f.target, sanitizeCdb(0x1f)), 1, 4);
  checkCondition(
    await run(f.target, sanitizeCdb(2, { ause: true })),
    SenseKey.MEDIUM_ERROR,
    ASC.SANITIZE_COMMAND_FAILED,
  );
  good(await run(f.target, sanitizeCdb(0x1f)));
  good(await run(f.target, cdb10(0x28, 0, 1)));
  // A successful sanitize also leaves failure mode.
  checkCondition(await run(f.target, sanitizeCdb(2)), SenseKey.MEDIUM_ERROR, ASC.SANITIZE_COMMAND_FAILED);
  dev.broken = false;
  good(await run(f.target, sanitizeCdb(2)));
  good(await run(f.target, cdb10(0x28, 0, 1)));
});
