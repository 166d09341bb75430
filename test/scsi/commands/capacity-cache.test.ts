/** READ CAPACITY (10)/(16), SYNCHRONIZE CACHE (10)/(16) and PRE-FETCH (10)/(16). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, ScsiStatus, SenseKey } from '../../../src/scsi/index.js';
import { MemoryDevice } from '../../../src/block/index.js';
import { cdb10, cdb16, checkCondition, good, invalidField, ready, run } from '../helpers.js';

test('READ CAPACITY (10): PMI rules; FFFFFFFFh past 2 TiB', async () => {
  const f = await ready();
  invalidField(await run(f.target, [0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0]), 2);
  good(await run(f.target, [0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0]));
  const big = await ready({}, new MemoryDevice(4 * 1024 ** 4));
  assert.equal(
    (await run(big.target, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).dataIn!.toString('hex'),
    'ffffffff00000200',
  );
  const r16 = (await run(big.target, cdb16(0x9e, 0, 32, 0x10))).dataIn!;
  assert.equal(r16.readBigUInt64BE(0), (4n * 1024n ** 4n) / 512n - 1n);
});

test('READ CAPACITY (16): allocation length, LBPME/LBPRZ with discard=on', async () => {
  const f = await ready({ discard: 'on' });
  const r = await run(f.target, cdb16(0x9e, 0, 32, 0x10));
  assert.equal(r.dataIn![14]! & 0xc0, 0xc0);
  const short = await run(f.target, cdb16(0x9e, 0, 12, 0x10));
  assert.equal(short.dataIn!.length, 12);
  assert.equal(short.transferLength, 12);
  const none = await run(f.target, cdb16(0x9e, 0, 0, 0x10));
  good(none);
  assert.equal(none.dataIn, undefined);
  invalidField(await run(f.target, cdb16(0x9e, 1, 32, 0x10)), 2);
});

test('SYNCHRONIZE CACHE and PRE-FETCH check the range; PRE-FETCH answers CONDITION MET', async () => {
  const f = await ready();
  good(await run(f.target, cdb10(0x35, 0, 0)));
  good(await run(f.target, cdb16(0x91, 32767, 1, 0x02)));
  good(await run(f.target, cdb10(0x35, 32768, 0)));
  checkCondition(await run(f.target, cdb10(0x35, 32767, 2)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  checkCondition(await run(f.target, cdb16(0x91, 32769, 0)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  assert.equal((await run(f.target, cdb10(0x34, 0, 10))).status, ScsiStatus.CONDITION_MET);
  assert.equal((await run(f.target, cdb16(0x90, 100, 0, 0x02))).status, ScsiStatus.CONDITION_MET);
  checkCondition(await run(f.target, cdb16(0x90, 32768, 1)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  good(await run(f.target, cdb10(0x35, 0, 0, 0x06))); // IMMED and the obsolete SYNC_NV
  invalidField(await run(f.target, cdb10(0x35, 0, 0, 0x08)), 1, 3);
});

test('READ DEFECT DATA (10) and (12): empty lists in the requested format', async () => {
  const f = await ready();
  const r10 = await run(f.target, [0x37, 0, 0x18 | 5, 0, 0, 0, 0, 0, 32, 0]);
  good(r10);
  assert.equal(r10.dataIn!.toString('hex'), '001d0000');
  const r12 = await run(f.target, [0xb7, 0x00, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]);
  good(r12);
  assert.equal(r12.dataIn!.toString('hex'), '0000000000000000');
  invalidField(await run(f.target, [0x37, 0, 0x20, 0, 0, 0, 0, 0, 32, 0]), 2, 5);
});
