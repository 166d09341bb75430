/**
 * EXTENDED COPY (LID1): copies within one LU (as libiscsi's ExtendedCopy.Simple does), between two
 * LUs named by their NAA designators (with different block lengths and the DC bit), overlapping
 * ranges in both directions, a large multi-segment copy, thin sources staying thin, and every
 * error path of the parameter list and of copy planning, each with its exact sense; a list with
 * one bad segment copies nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { MemoryDevice } from '../../../src/block/index.js';
import { ASC, LogicalUnit, SenseKey } from '../../../src/scsi/index.js';
import {
  CopyAsc,
  ListIdUsage,
  MAX_CSCD_DESCRIPTORS,
  MAX_SEGMENT_DESCRIPTORS,
} from '../../../src/scsi/xcopy/index.js';
import { checkCondition, clearUa, good, MIB, ready, run, type Fixture } from '../helpers.js';
import { MemoryReservationStore, PersistentReservations } from '../../../src/scsi/reservations/index.js';
import { encodeProutParameters } from '../../../src/scsi/reservations/data/prout-parameters.js';
import { exec, rw16 } from '../caw/harness.js';
import { cscd, paramList, segment, xcopyCdb } from './build.js';

const BS = 512;

async function xcopy(f: Fixture, list: Buffer, lun = 0) {
  return exec(f, xcopyCdb(list.length), { dataOut: list, lun });
}

async function write(f: Fixture, lba: number, data: Buffer, lun = 0): Promise<void> {
  for (let off = 0; off < data.length; off += 16 * MIB) {
    const piece = data.subarray(off, Math.min(data.length, off + 16 * MIB));
    good(
      await exec(
        f,
        rw16(
          0x8a,
          lba + off / f.target.getLun(lun)!.blockSize,
          piece.length / f.target.getLun(lun)!.blockSize,
        ),
        { dataOut: piece, lun },
      ),
    );
  }
}

async function read(f: Fixture, lba: number, bytes: number, lun = 0): Promise<Buffer> {
  const bs = f.target.getLun(lun)!.blockSize;
  const parts: Buffer[] = [];
  for (let off = 0; off < bytes; off += 16 * MIB) {
    const n = Math.min(16 * MIB, bytes - off);
    const r = await exec(f, rw16(0x88, lba + off / bs, n / bs), { lun });
    good(r);
    parts.push(r.dataIn!);
  }
  return Buffer.concat(parts);
}

/** A fixture whose LU has its own UUID (designators never collide with other tests' LUs). */
const fresh = (opts: Parameters<typeof ready>[0] = {}, dev?: MemoryDevice): Promise<Fixture> =>
  ready({ uuid: randomUUID(), ...opts }, dev);

/** A second LU at LUN 1 (ScsiTarget.addLun makes it a copy target). */
async function withSecondLu(
  f: Fixture,
  opts: { blockSize?: 512 | 4096; readOnly?: boolean; discard?: 'on' } = {},
  dev = new MemoryDevice(16 * MIB),
): Promise<LogicalUnit> {
  const lu2 = new LogicalUnit(dev, { uuid: randomUUID(), ...opts });
  f.target.addLun(1, lu2);
  await clearUa(f.target, f.a, 0);
  await clearUa(f.target, f.a, 1);
  return lu2;
}

test('same LU: 2048 blocks from LBA 0 to the end (libiscsi ExtendedCopy.Simple), LIST ID USAGE 10b', async () => {
  const f = await fresh();
  const data = randomBytes(2048 * BS);
  await write(f, 0, data);
  const end = f.lu.blocks - 2048;
  good(
    await xcopy(
      f,
      paramList([cscd(f.lu)], [segment(0, 0, 2048, 0, end)], { usage: ListIdUsage.STATUS_ONLY }),
    ),
  );
  assert.ok((await read(f, end, data.length)).equals(data));
});

test('PARAMETER LIST LENGTH 0 copies nothing; short lists are PARAMETER LIST LENGTH ERROR', async () => {
  const f = await fresh();
  good(await exec(f, xcopyCdb(0)));
  const list = paramList([cscd(f.lu)], [segment(0, 0, 8, 0, 100)]);
  for (const len of [1, 15, 16 + 31, 16 + 32 + 27]) {
    checkCondition(
      await xcopy(f, list.subarray(0, len)),
      SenseKey.ILLEGAL_REQUEST,
      ASC.PARAMETER_LIST_LENGTH_ERROR,
    );
  }
  // Data-Out shorter than the CDB's PARAMETER LIST LENGTH.
  checkCondition(
    await exec(f, xcopyCdb(list.length), { dataOut: list.subarray(0, 40) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
});

test('descriptor limits: TOO MANY TARGET / SEGMENT DESCRIPTORS, a list above the maximum length', async () => {
  const f = await fresh();
  const c = cscd(f.lu);
  const s = segment(0, 0, 8, 0, 100);
  const r1 = await xcopy(f, paramList(Array(MAX_CSCD_DESCRIPTORS + 1).fill(c), [s]));
  checkCondition(r1, SenseKey.ILLEGAL_REQUEST, CopyAsc.TOO_MANY_TARGET_DESCRIPTORS);
  const r2 = await xcopy(f, paramList([c], Array(MAX_SEGMENT_DESCRIPTORS + 1).fill(s)));
  checkCondition(r2, SenseKey.ILLEGAL_REQUEST, CopyAsc.TOO_MANY_SEGMENT_DESCRIPTORS);
  const r3 = await xcopy(
    f,
    paramList(Array(MAX_CSCD_DESCRIPTORS + 1).fill(c), Array(MAX_SEGMENT_DESCRIPTORS + 1).fill(s)),
  );
  checkCondition(r3, SenseKey.ILLEGAL_REQUEST, ASC.PARAMETER_LIST_LENGTH_ERROR);
  // Exactly at the limits is fine.
  good(
    await xcopy(f, paramList(Array(MAX_CSCD_DESCRIPTORS).fill(c), Array(MAX_SEGMENT_DESCRIPTORS).fill(s))),
  );
});

test('unsupported descriptor types: FC N_Port_Name CSCD (E0h), stream to stream segment (03h)', async () => {
  const f = await fresh();
  const fc = cscd(f.lu);
  fc[0] = 0xe0;
  checkCondition(
    await xcopy(f, paramList([fc], [segment(0, 0, 8, 0, 100)])),
    SenseKey.ILLEGAL_REQUEST,
    CopyAsc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
  );
  const s2s = Buffer.from('03000010' + '00000000' + '00'.repeat(12), 'hex');
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [s2s])),
    SenseKey.ILLEGAL_REQUEST,
    CopyAsc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE,
  );
  // A 64-byte IPv6 CSCD descriptor (EAh) is walked past correctly, then refused by type.
  const ipv6 = Buffer.alloc(64);
  ipv6[0] = 0xea;
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu), ipv6], [segment(0, 0, 8, 0, 100)])),
    SenseKey.ILLEGAL_REQUEST,
    CopyAsc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
  );
});

test('parameter list fields: INVALID FIELD IN PARAMETER LIST with the field pointer', async () => {
  const f = await fresh();
  const s = segment(0, 0, 8, 0, 100);
  const field = (byte: number, bit?: number) => ({ cdb: false, byte, ...(bit !== undefined ? { bit } : {}) });
  // SPC-4: LU ID TYPE (10b is libiscsi's LU_ID_TYPE_RSVD) and NUL are obsolete and ignored.
  good(await xcopy(f, paramList([cscd(f.lu, { luIdType: 2 })], [s])));
  good(await xcopy(f, paramList([cscd(f.lu, { nul: true })], [s])));
  // A copy target that is not a block device.
  const tape = cscd(f.lu);
  tape[1] = 0x01;
  checkCondition(
    await xcopy(f, paramList([tape], [s])),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    field(17, 4),
  );
  // LIST ID USAGE 01b is reserved; 11b needs LIST IDENTIFIER 0.
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [s], { usage: 1 })),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    field(1, 4),
  );
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [s], { usage: ListIdUsage.NONE, listId: 5 })),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    field(0),
  );
  good(await xcopy(f, paramList([cscd(f.lu)], [s], { usage: ListIdUsage.NONE, listId: 0 })));
  // DISK BLOCK LENGTH other than the LU's.
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu, { blockLength: 4096 })], [s])),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    field(16 + 29),
  );
  // A segment descriptor whose DESCRIPTOR LENGTH runs past the segment list.
  const long = Buffer.from(s);
  long.writeUInt16BE(0x40, 2);
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [long])),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    field(8),
  );
  // Inline data is not supported.
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [s], { inline: 4 })),
    SenseKey.ILLEGAL_REQUEST,
    CopyAsc.INLINE_DATA_LENGTH_EXCEEDED,
  );
});

test('copy targets: a descriptor index past the list, an unknown designator, beyond the end', async () => {
  const f = await fresh();
  const ok = segment(0, 0, 8, 0, 100);
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [segment(0, 1, 8, 0, 100)])),
    SenseKey.COPY_ABORTED,
    CopyAsc.UNREACHABLE_COPY_TARGET,
  );
  const stranger = Buffer.from(f.lu.identity.naa);
  stranger[15]! ^= 0xff;
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu, { designator: stranger })], [ok])),
    SenseKey.COPY_ABORTED,
    CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE,
  );
  // 2048 blocks to the last LBA (libiscsi ValidSegDescr), and a source past the end.
  const last = f.lu.blocks - 1;
  for (const seg of [segment(0, 0, 2048, 0, last), segment(0, 0, 1, last + 1, 0)]) {
    checkCondition(
      await xcopy(f, paramList([cscd(f.lu)], [seg])),
      SenseKey.COPY_ABORTED,
      CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE,
    );
  }
  // A good segment followed by a bad one: nothing is copied.
  await write(f, 0, Buffer.alloc(8 * BS, 0x5a));
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu)], [segment(0, 0, 8, 0, 100), segment(0, 0, 8, 0, last)])),
    SenseKey.COPY_ABORTED,
    CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE,
  );
  assert.ok((await read(f, 100, 8 * BS)).equals(Buffer.alloc(8 * BS)), 'the good segment did not run');
  // The T10 vendor ID designator names the LU too.
  const t10 = cscd(f.lu);
  t10[4] = 2;
  t10[5] = 1;
  const id = Buffer.from(f.lu.vendor.padEnd(8, ' ').slice(0, 8) + f.lu.identity.serial, 'latin1');
  t10[7] = id.length;
  t10.fill(0, 8, 28);
  id.copy(t10, 8, 0, 20);
  // 40 bytes do not fit the 20-byte field: DESIGNATOR LENGTH > 20 is refused at byte 7.
  checkCondition(
    await xcopy(f, paramList([t10], [ok])),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 16 + 7 },
  );
});

test('two LUs by NAA designator: 512 -> 4096-byte blocks with DC, both directions, inexact segment', async () => {
  const f = await fresh();
  const lu2 = await withSecondLu(f, { blockSize: 4096 });
  const data = randomBytes(64 * 1024);
  await write(f, 40, data);
  // LU 0 is the copy manager: 128 source blocks (DC = 0) -> LU 1 LBA 3.
  good(await xcopy(f, paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, 128, 40, 3)])));
  assert.ok((await read(f, 3, data.length, 1)).equals(data));
  // LU 1 is the copy manager, copying back to LU 0 LBA 1000: 16 destination blocks... with DC = 1
  // the count is in destination (512-byte) blocks.
  good(await xcopy(f, paramList([cscd(lu2), cscd(f.lu)], [segment(0, 1, 128, 3, 1000, true)]), 1));
  assert.ok((await read(f, 1000, data.length)).equals(data));
  // DC = 1 counting 4096-byte destination blocks from LU 0.
  good(await xcopy(f, paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, 2, 40, 100, true)])));
  assert.ok((await read(f, 100, 8192, 1)).equals(data.subarray(0, 8192)));
  // 3 x 512 bytes is no whole number of 4096-byte blocks.
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, 3, 40, 0)])),
    SenseKey.COPY_ABORTED,
    CopyAsc.UNEXPECTED_INEXACT_SEGMENT,
  );
});

test('a write-protected destination: COPY ABORTED / WRITE PROTECTED', async () => {
  const f = await fresh();
  const lu2 = await withSecondLu(f, { readOnly: true });
  checkCondition(
    await xcopy(f, paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, 8, 0, 0)])),
    SenseKey.COPY_ABORTED,
    ASC.WRITE_PROTECTED,
  );
  // Copying from it is fine.
  good(await xcopy(f, paramList([cscd(lu2), cscd(f.lu)], [segment(0, 1, 8, 0, 0)])));
});

test('overlapping ranges on one LU copy like memmove, forwards and backwards, within and across chunks', async () => {
  const f = await fresh({}, new MemoryDevice(48 * MIB));
  for (const [src, dst, blocks] of [
    [1000, 1003, 2000],
    [1003, 1000, 2000],
    [0, 8192, 40000], // 20 MB: several 8 MiB chunks, 4 MiB apart
    [8192, 0, 40000],
  ] as const) {
    const data = randomBytes(blocks * BS);
    await write(f, src, data);
    good(await xcopy(f, paramList([cscd(f.lu)], [segment(0, 0, blocks, src, dst)])));
    assert.ok((await read(f, dst, data.length)).equals(data), `${src} -> ${dst}`);
  }
});

test('large copy: 96 MiB in 3 segments between two LUs, thin source ranges copied as zeroes', async (t) => {
  const f = await fresh({ discard: 'on' }, new MemoryDevice(128 * MIB));
  const lu2 = await withSecondLu(f, { discard: 'on' }, new MemoryDevice(128 * MIB));
  const seg = 65535;
  const total = 3 * seg * BS;
  const data = randomBytes(total);
  data.fill(0, 10 * MIB, 30 * MIB); // a zero run in the source
  await write(f, 0, data);
  // Destination starts full of ones, so zero runs must really be written.
  await write(f, 0, Buffer.alloc(total, 0xff), 1);
  const segs = [0, 1, 2].map((i) => segment(0, 1, seg, i * seg, i * seg));
  const t0 = process.hrtime.bigint();
  good(await xcopy(f, paramList([cscd(f.lu), cscd(lu2)], segs)));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.diagnostic(
    `EXTENDED COPY of ${(total / MIB).toFixed(0)} MiB: ${ms.toFixed(0)} ms, ${(total / MIB / (ms / 1000)).toFixed(0)} MiB/s`,
  );
  assert.ok((await read(f, 0, total, 1)).equals(data));
});

test("persistent reservations of a copy target apply to the copy manager's commands on it", async () => {
  const f = await fresh();
  const lu2 = await withSecondLu(f);
  const pr = new PersistentReservations({ uuid: lu2.uuid, store: new MemoryReservationStore() });
  await pr.start();
  lu2.reservations = pr;
  const prout = (sa: number, type: number, key: bigint, sark: bigint) =>
    run(f.target, [0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0], {
      nexus: f.b,
      lun: 1,
      dataOut: encodeProutParameters({
        key,
        serviceActionKey: sark,
        specIPt: false,
        allTgPt: false,
        aptpl: false,
      }),
    });
  await clearUa(f.target, f.b, 1);
  good(await prout(6, 0, 0n, 0xbn)); // REGISTER AND IGNORE EXISTING KEY
  good(await prout(1, 1, 0xbn, 0n)); // RESERVE, Write Exclusive
  await write(f, 0, Buffer.alloc(8 * BS, 0x77));
  const toLu2 = paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, 8, 0, 0)]);
  checkCondition(await xcopy(f, toLu2), SenseKey.COPY_ABORTED, CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE);
  assert.ok(
    (await read(f, 0, 8 * BS, 1)).equals(Buffer.alloc(8 * BS)),
    'nothing written under the reservation',
  );
  // Reading from the reserved LU is allowed under Write Exclusive.
  good(await xcopy(f, paramList([cscd(lu2), cscd(f.lu)], [segment(0, 1, 8, 0, 100)])));
  // The reservation holder may copy onto it.
  await clearUa(f.target, f.b, 0);
  good(await exec(f, xcopyCdb(toLu2.length), { dataOut: toLu2, nexus: f.b }));
  assert.ok((await read(f, 0, 8 * BS, 1)).equals(Buffer.alloc(8 * BS, 0x77)));
});

test('concurrent copies in opposite directions between two LUs and within one LU all finish', async () => {
  const f = await fresh({}, new MemoryDevice(64 * MIB));
  const lu2 = await withSecondLu(f, {}, new MemoryDevice(64 * MIB));
  await write(f, 0, randomBytes(32 * MIB));
  await write(f, 0, randomBytes(32 * MIB), 1);
  const seg = 40000; // ~20 MB, three 8 MiB chunks each
  const lists = [
    paramList([cscd(f.lu), cscd(lu2)], [segment(0, 1, seg, 0, 1000)], { usage: ListIdUsage.NONE, listId: 0 }),
    paramList([cscd(lu2), cscd(f.lu)], [segment(0, 1, seg, 0, 1000)], { usage: ListIdUsage.NONE, listId: 0 }),
    paramList([cscd(f.lu)], [segment(0, 0, seg, 0, 30000)], { usage: ListIdUsage.NONE, listId: 0 }),
    paramList([cscd(lu2)], [segment(0, 0, seg, 30000, 0)], { usage: ListIdUsage.NONE, listId: 0 }),
  ];
  const all = Promise.all(
    [0, 1, 2, 3, 0, 1, 2, 3].map((i, k) =>
      exec(f, xcopyCdb(lists[i]!.length), { dataOut: lists[i]!, lun: k % 2 }),
    ),
  );
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('deadlock')), 20_000).unref(),
  );
  for (const r of await Promise.race([all, timeout])) good(r);
});
