/**
 * COMPARE AND WRITE (SBC-3 §5.2): the CDB codec, the good path at both ends of the LU and at every
 * length up to MAXIMUM COMPARE AND WRITE LENGTH, miscompare sense with the offset of the first
 * differing byte and an unchanged medium, every error path with its exact sense, and atomicity:
 * racing CAWs from many nexuses (one winner per expected value, no lost increment) and a plain
 * WRITE from another nexus that cannot land between the compare and the write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryDevice } from '../../../src/block/index.js';
import {
  COMPARE_AND_WRITE,
  MAX_COMPARE_AND_WRITE_BLOCKS,
  decodeCompareAndWriteCdb,
  encodeCompareAndWriteCdb,
} from '../../../src/scsi/caw/index.js';
import { ASC, decodeSense, ScsiStatus, SenseKey } from '../../../src/scsi/index.js';
import { GatedDevice, settle } from '../gated-device.js';
import { checkCondition, clearUa, good, MIB, nexus, ready } from '../helpers.js';
import { exec, rw16 } from './harness.js';

const BS = 512;

function caw(lba: number, blocks: number, flags: { fua?: boolean; dpo?: boolean } = {}): Buffer {
  return encodeCompareAndWriteCdb({ lba, blocks, dpo: !!flags.dpo, fua: !!flags.fua, group: 0 });
}

const fill = (blocks: number, byte: number): Buffer => Buffer.alloc(blocks * BS, byte);

test('CDB codec: golden bytes and round trip', () => {
  const c = { lba: 0x0102030405, blocks: 7, dpo: true, fua: true, group: 3 };
  const b = encodeCompareAndWriteCdb(c);
  assert.equal(b.length, 16);
  assert.equal(b.toString('hex'), '89180000000102030405000000070300');
  assert.deepEqual(decodeCompareAndWriteCdb(b), c);
  assert.equal(COMPARE_AND_WRITE, 0x89);
});

test('compare and write: 1..255 blocks at the start and at the end of the LU', async () => {
  const f = await ready();
  const last = f.lu.blocks;
  for (const n of [1, 2, 7, 64, 128, MAX_COMPARE_AND_WRITE_BLOCKS]) {
    for (const lba of [0, last - n]) {
      good(await exec(f, rw16(0x8a, lba, n), { dataOut: fill(n, 0x41) }));
      good(await exec(f, caw(lba, n), { dataOut: Buffer.concat([fill(n, 0x41), fill(n, 0x42)]) }));
      const back = await exec(f, rw16(0x88, lba, n));
      assert.ok(back.dataIn!.equals(fill(n, 0x42)), `${n} blocks at ${lba}`);
    }
  }
});

test('FUA and DPO are accepted; WRPROTECT is INVALID FIELD IN CDB (no protection information)', async () => {
  const f = await ready();
  good(
    await exec(f, caw(3, 1, { fua: true, dpo: true }), { dataOut: Buffer.concat([fill(1, 0), fill(1, 9)]) }),
  );
  assert.ok((await exec(f, rw16(0x88, 3, 1))).dataIn!.equals(fill(1, 9)));
  const c = caw(3, 1);
  c[1] = 0x20;
  const r = await exec(f, c, { dataOut: Buffer.concat([fill(1, 9), fill(1, 1)]) });
  checkCondition(r, SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cdb: true, byte: 1, bit: 5 });
});

test('miscompare: MISCOMPARE DURING VERIFY OPERATION, INFORMATION = first differing byte, nothing written', async () => {
  const f = await ready();
  for (const n of [1, 3, 255]) {
    good(await exec(f, rw16(0x8a, 10, n), { dataOut: fill(n, 0x41) }));
    const verify = fill(n, 0x41);
    const at = n * BS - 27;
    verify[at] = 0x43;
    const r = await exec(f, caw(10, n), { dataOut: Buffer.concat([verify, fill(n, 0x42)]) });
    checkCondition(r, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
    const s = decodeSense(r.sense!);
    assert.equal(s.information, BigInt(at), 'VALID = 1 and INFORMATION = offset');
    assert.ok((await exec(f, rw16(0x88, 10, n))).dataIn!.equals(fill(n, 0x41)), 'medium unchanged');
  }
});

test('errors: out of range, NUMBER OF LOGICAL BLOCKS 0, wrong Data-Out length, read-only LU', async () => {
  const f = await ready();
  const last = f.lu.blocks;
  const two = (n: number): Buffer => Buffer.alloc(2 * n * BS);
  checkCondition(
    await exec(f, caw(last, 1), { dataOut: two(1) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  checkCondition(
    await exec(f, caw(last - 1, 2), { dataOut: two(2) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  const huge = caw(0, 1);
  huge.writeBigUInt64BE(0xffffffffffffffffn, 2);
  checkCondition(await exec(f, huge, { dataOut: two(1) }), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  // 0 blocks: nothing is compared or written, not an error (even with a stray block of Data-Out).
  good(await exec(f, caw(0, 0)));
  good(await exec(f, caw(0, 0), { dataOut: fill(1, 7) }));
  assert.ok((await exec(f, rw16(0x88, 0, 1))).dataIn!.equals(fill(1, 0)));
  // 256 blocks overflow the one-byte field to 0: refused rather than silently ignored.
  checkCondition(
    await exec(f, caw(0, 0), { dataOut: two(256) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_CDB,
    {
      cdb: true,
      byte: 13,
    },
  );
  // Data-Out too short and too long for the block count: nothing written.
  for (const blocks of [1, 3]) {
    const r = await exec(f, caw(0, blocks), { dataOut: Buffer.concat([fill(2, 0), fill(2, 5)]) });
    checkCondition(r, SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { cdb: true, byte: 13 });
  }
  checkCondition(
    await exec(f, caw(0, 1), { dataOut: fill(1, 0) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_CDB,
  );
  assert.ok((await exec(f, rw16(0x88, 0, 4))).dataIn!.equals(fill(4, 0)));

  const ro = await ready({ readOnly: true });
  checkCondition(
    await exec(ro, caw(0, 1), { dataOut: Buffer.concat([fill(1, 0), fill(1, 1)]) }),
    SenseKey.DATA_PROTECT,
    ASC.WRITE_PROTECTED,
  );
});

test('racing CAWs from 16 nexuses on one block: exactly one winner per expected value', async () => {
  const f = await ready({}, new MemoryDevice(4 * MIB));
  const nexuses = Array.from({ length: 16 }, (_, i) => nexus(100 + i));
  for (const n of nexuses) await clearUa(f.target, n);
  for (let round = 0; round < 8; round++) {
    const old = fill(1, round);
    const results = await Promise.all(
      nexuses.map((n, i) =>
        exec(f, caw(5, 1), {
          nexus: n,
          dataOut: Buffer.concat([old, Buffer.alloc(BS, round + 1).fill(i, 0, 1)]),
        }),
      ),
    );
    const winners = results.flatMap((r, i) => (r.status === ScsiStatus.GOOD ? [i] : []));
    assert.equal(winners.length, 1, `round ${round}: one winner`);
    for (const r of results)
      if (r.status !== ScsiStatus.GOOD) checkCondition(r, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
    const now = (await exec(f, rw16(0x88, 5, 1))).dataIn!;
    assert.equal(now[0], winners[0], 'the winner wrote the block');
    // Put the block in the state the next round expects (byte 0 back to the round number).
    good(await exec(f, rw16(0x8a, 5, 1), { dataOut: fill(1, round + 1) }));
  }
});

test('atomic counter: 8 nexuses x 25 read-CAW-retry increments lose nothing', async () => {
  const f = await ready({}, new MemoryDevice(4 * MIB));
  const block = (v: number): Buffer => {
    const b = Buffer.alloc(BS);
    b.writeUInt32BE(v, 0);
    return b;
  };
  let retries = 0;
  const worker = async (isid: number): Promise<void> => {
    const n = nexus(isid);
    await clearUa(f.target, n);
    for (let k = 0; k < 25; k++) {
      for (;;) {
        const cur = (await exec(f, rw16(0x88, 9, 1), { nexus: n })).dataIn!;
        const v = cur.readUInt32BE(0);
        const r = await exec(f, caw(9, 1), { nexus: n, dataOut: Buffer.concat([cur, block(v + 1)]) });
        if (r.status === ScsiStatus.GOOD) break;
        checkCondition(r, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
        retries++;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, i) => worker(200 + i)));
  assert.equal((await exec(f, rw16(0x88, 9, 1))).dataIn!.readUInt32BE(0), 200);
  assert.ok(retries > 0, 'the workers really raced');
});

test('a WRITE from another nexus cannot land between the compare and the write', async () => {
  const dev = new GatedDevice(4 * MIB);
  dev.open();
  const f = await ready({}, dev);
  good(await exec(f, rw16(0x8a, 20, 2), { dataOut: fill(2, 0x41) }));
  dev.closed = true;
  // CAW A -> B; its read of the medium waits at the gate, holding the range.
  const cawDone = exec(f, caw(20, 2), { nexus: f.a, dataOut: Buffer.concat([fill(2, 0x41), fill(2, 0x42)]) });
  await settle();
  assert.equal(dev.waiting, 1, 'CAW is reading');
  // A plain WRITE of C from another nexus over one of the blocks, issued mid-CAW.
  const writeDone = exec(f, rw16(0x8a, 21, 1), { nexus: f.b, dataOut: fill(1, 0x43) });
  await settle();
  assert.equal(dev.waiting, 1, 'the WRITE waits for the CAW, it does not reach the device');
  dev.open();
  good(await cawDone);
  good(await writeDone);
  const back = (await exec(f, rw16(0x88, 20, 2))).dataIn!;
  assert.ok(back.subarray(0, BS).equals(fill(1, 0x42)), 'CAW wrote block 20');
  assert.ok(back.subarray(BS).equals(fill(1, 0x43)), 'the WRITE landed after the CAW');
  assert.deepEqual(
    dev.log.slice(-4, -1).map((s) => s[0]),
    ['r', 'w', 'w'],
    'device order: CAW read, CAW write, then the other WRITE',
  );
});

test('4096-byte logical blocks: lengths, miscompare offset and the 2 x 255-block Data-Out bound', async () => {
  const f = await ready({ blockSize: 4096 });
  const big = (n: number, v: number): Buffer => Buffer.alloc(n * 4096, v);
  good(await exec(f, rw16(0x8a, 7, 3), { dataOut: big(3, 1) }));
  const verify = big(3, 1);
  verify[4096 + 5] = 9;
  const r = await exec(f, caw(7, 3), { dataOut: Buffer.concat([verify, big(3, 2)]) });
  checkCondition(r, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
  assert.equal(decodeSense(r.sense!).information, 4101n);
  good(await exec(f, caw(7, 3), { dataOut: Buffer.concat([big(3, 1), big(3, 2)]) }));
  assert.ok((await exec(f, rw16(0x88, 7, 3))).dataIn!.equals(big(3, 2)));
  good(await exec(f, caw(0, 0), { dataOut: big(2 * MAX_COMPARE_AND_WRITE_BLOCKS, 0) }));
  checkCondition(
    await exec(f, caw(0, 0), { dataOut: big(2 * MAX_COMPARE_AND_WRITE_BLOCKS + 1, 0) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_CDB,
  );
});
