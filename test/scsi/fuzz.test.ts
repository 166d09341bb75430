/**
 * Every opcode with random CDB bytes and random Data-Out: the core always answers in SCSI terms.
 * For each command: execute resolves; the status is GOOD, CONDITION MET or CHECK CONDITION; sense
 * data decodes, and its key is neither NO SENSE nor HARDWARE ERROR (which would mean a handler
 * threw something other than a ScsiError/BlockError: a bug); Data-In never exceeds the CDB's
 * transfer length. Deterministic (seeded), so a failure names a reproducible CDB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSense, ScsiStatus, SenseKey } from '../../src/scsi/index.js';
import { ready, run } from './helpers.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('random CDBs for every opcode get a status with meaningful sense', async () => {
  const f = await ready({ discard: 'on' });
  const rand = rng(0x5c5105);
  const byte = () => Math.floor(rand() * 256);
  let checked = 0;
  for (let opcode = 0; opcode < 256; opcode++) {
    for (let i = 0; i < 24; i++) {
      const cdb = Buffer.alloc(16);
      for (let j = 1; j < 16; j++) cdb[j] = byte();
      cdb[0] = opcode;
      // Often keep the LBA and lengths small so the valid paths run too.
      if (i % 2 === 0) {
        cdb.fill(0, 2, 6);
        cdb.fill(0, 10, 16);
        cdb[1]! &= 0x1f;
        cdb[5]! &= 0x3f;
        cdb[7] = 0;
      }
      if (i % 3 === 0) cdb[cdb.length - 1] = 0;
      const dataLen = [0, 8, 512, 4096, Math.floor(rand() * 70000)][i % 5]!;
      const dataOut = Buffer.alloc(dataLen);
      for (let j = 0; j < Math.min(dataLen, 64); j++) dataOut[j] = byte();
      const label = `CDB ${cdb.toString('hex')} with ${dataLen} bytes out`;
      const r = await run(f.target, cdb, { dataOut, nexus: i % 2 ? f.a : f.b });
      assert.ok(
        r.status === ScsiStatus.GOOD ||
          r.status === ScsiStatus.CONDITION_MET ||
          r.status === ScsiStatus.CHECK_CONDITION,
        `${label}: status ${r.status}`,
      );
      assert.ok(Number.isSafeInteger(r.transferLength) && r.transferLength >= 0, label);
      assert.ok(
        (r.dataIn?.length ?? 0) <= r.transferLength,
        `${label}: Data-In longer than the transfer length`,
      );
      if (r.status === ScsiStatus.CHECK_CONDITION) {
        const s = decodeSense(r.sense!);
        assert.notEqual(s.key, SenseKey.NO_SENSE, label);
        assert.notEqual(s.key, SenseKey.HARDWARE_ERROR, `${label}: ${r.sense!.toString('hex')}`);
      }
      checked++;
    }
  }
  assert.equal(checked, 256 * 24);
  // Short CDBs (a transport that passes exactly the CDB's bytes, or fewer) and an empty one.
  for (const len of [0, 1, 3, 6, 10, 12]) {
    for (const opcode of [0x00, 0x03, 0x12, 0x1a, 0x25, 0x28, 0x2a, 0x88, 0x9e, 0xa0, 0xa3, 0x42, 0x48]) {
      const cdb = Buffer.alloc(len);
      if (len) cdb[0] = opcode;
      for (const lun of [0, 9]) {
        const r = await f.target.execute({
          nexus: f.a,
          lun,
          tag: 0x10000 + len,
          cdb,
          attribute: 'simple',
          expectedLength: 512,
          dataOut: Buffer.alloc(512),
        });
        if (r.status === ScsiStatus.CHECK_CONDITION) {
          assert.notEqual(
            decodeSense(r.sense!).key,
            SenseKey.HARDWARE_ERROR,
            `short CDB ${cdb.toString('hex')}`,
          );
        }
      }
    }
  }
  // Whatever the fuzzing did, the LU still works (a MODE SELECT may have set SWP or D_SENSE).
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'logical-unit-reset' }),
    'function-complete',
  );
});
