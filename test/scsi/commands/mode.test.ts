/** MODE SENSE (6/10) and MODE SELECT (6/10): page controls, descriptors, changeable fields, UAs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, decodeSense, SenseKey } from '../../../src/scsi/index.js';
import { cdb10, cdb16, checkCondition, good, invalidField, ready, run } from '../helpers.js';

const sense6 = (pcPage: number, alloc = 255, dbd = false, sub = 0) => [
  0x1a,
  dbd ? 0x08 : 0,
  pcPage,
  sub,
  alloc,
  0,
];
const sense10 = (pcPage: number, llbaa = false, dbd = false) => [
  0x5a,
  (llbaa ? 0x10 : 0) | (dbd ? 0x08 : 0),
  pcPage,
  0,
  0,
  0,
  0,
  0x10,
  0,
  0,
];

/** A MODE SELECT (6) parameter list: header, optional block descriptor, pages. */
function list6(pages: Buffer[], bd?: Buffer): Buffer {
  const h = Buffer.from([0, 0, 0, bd ? 8 : 0]);
  return Buffer.concat([h, ...(bd ? [bd] : []), ...pages]);
}

async function page(f: Awaited<ReturnType<typeof ready>>, code: number, pc = 0): Promise<Buffer> {
  const r = await run(f.target, sense6((pc << 6) | code, 255, true));
  good(r);
  return Buffer.from(r.dataIn!.subarray(4));
}

test('MODE SENSE (6) of one page, DBD, and each page control', async () => {
  const f = await ready();
  const cur = await run(f.target, sense6(0x08));
  good(cur);
  assert.equal(cur.dataIn![3], 8, 'block descriptor');
  assert.equal(cur.dataIn!.length, 4 + 8 + 20);
  assert.equal(cur.dataIn![0], 4 + 8 + 20 - 1);
  assert.equal(cur.dataIn![12], 0x08);
  assert.equal(cur.dataIn![14]! & 0x04, 0x04, 'WCE on for writeback');
  assert.equal((await page(f, 0x08, 1))[2], 0x04, 'WCE changeable');
  assert.equal((await page(f, 0x08, 2))[2], 0x04, 'default WCE');
  checkCondition(
    await run(f.target, sense6(0xc8)),
    SenseKey.ILLEGAL_REQUEST,
    ASC.SAVING_PARAMETERS_NOT_SUPPORTED,
  );
  invalidField(await run(f.target, sense6(0x07)), 2, 5);
  invalidField(await run(f.target, sense6(0x08, 255, false, 1)), 3);
  good(await run(f.target, sense6(0x3f, 255, false, 0xff)));
  // Allocation length clips.
  const short = await run(f.target, sense6(0x3f, 4));
  assert.equal(short.dataIn!.length, 4);
  assert.equal(short.dataIn![0], 4 + 8 + 12 + 20 + 12 + 12 - 1);
});

test('MODE SENSE (10) with LLBAA returns a long block descriptor', async () => {
  const f = await ready();
  const r = await run(f.target, sense10(0x0a, true));
  good(r);
  const d = r.dataIn!;
  assert.equal(d.readUInt16BE(0), d.length - 2);
  assert.equal(d[4], 1, 'LONGLBA');
  assert.equal(d.readUInt16BE(6), 16);
  assert.equal(d.readBigUInt64BE(8), 32768n);
  assert.equal(d.readUInt32BE(20), 512);
  assert.equal(d[24], 0x0a);
  const noBd = await run(f.target, sense10(0x0a, true, true));
  assert.equal(noBd.dataIn!.readUInt16BE(6), 0);
  assert.equal(noBd.dataIn![4], 0);
});

test('cache=writethrough: WCE 0 and not changeable', async () => {
  const f = await ready({ cacheMode: 'writethrough' });
  assert.equal((await page(f, 0x08))[2]! & 0x04, 0);
  assert.equal((await page(f, 0x08, 1))[2], 0);
  const p = await page(f, 0x08);
  p[2] |= 0x04;
  const r = await run(f.target, [0x15, 0x10, 0, 0, 4 + p.length, 0], { dataOut: list6([p]) });
  checkCondition(r, SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
    cdb: false,
    byte: 6,
    bit: 2,
  });
});

test('MODE SELECT turns WCE off (writes become FUA) and raises MODE PARAMETERS CHANGED elsewhere', async () => {
  const f = await ready();
  const p = await page(f, 0x08);
  p[0] = 0x88; // PS is ignored in MODE SELECT
  p[2] &= ~0x04;
  const data = list6([p]);
  good(await run(f.target, [0x15, 0x10, 0, 0, data.length, 0], { dataOut: data, nexus: f.a }));
  assert.equal(f.lu.forceFua, true);
  assert.equal((await page(f, 0x08))[2]! & 0x04, 0);
  // The other nexus sees the unit attention once; the changer does not.
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.MODE_PARAMETERS_CHANGED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
  // Same values again: no change, no unit attention.
  good(await run(f.target, [0x15, 0x10, 0, 0, data.length, 0], { dataOut: data, nexus: f.a }));
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
});

test('D_SENSE switches sense data to descriptor format; SWP write-protects', async () => {
  const f = await ready();
  const ctl = await page(f, 0x0a);
  ctl[2] |= 0x04;
  ctl[4] |= 0x08;
  const data = list6([ctl], Buffer.from([0, 0, 0, 0, 0, 0, 2, 0]));
  good(await run(f.target, [0x15, 0x10, 0, 0, data.length, 0], { dataOut: data }));
  const r = await run(f.target, cdb16(0x88, 0xffffffffffffffffn, 1));
  checkCondition(r, SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  assert.equal(decodeSense(r.sense!).format, 'descriptor');
  checkCondition(
    await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }),
    SenseKey.DATA_PROTECT,
    ASC.WRITE_PROTECTED,
  );
  good(await run(f.target, cdb10(0x28, 0, 1)));
  const hdr = (await run(f.target, sense6(0x0a))).dataIn!;
  assert.equal(hdr[2], 0x90, 'WP and DPOFUA');
  // A logical unit reset restores the defaults.
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'logical-unit-reset' }),
    'function-complete',
  );
  assert.equal(f.lu.mode.swp, false);
  assert.equal(f.lu.mode.dSense, false);
});

test('MODE SELECT errors: SP, PF, lengths, header fields, block descriptor, unknown page, page length', async () => {
  const f = await ready();
  const ctl = await page(f, 0x0a);
  const ok = list6([ctl]);
  invalidField(await run(f.target, [0x15, 0x11, 0, 0, ok.length, 0], { dataOut: ok }), 1, 0);
  invalidField(await run(f.target, [0x15, 0x00, 0, 0, ok.length, 0], { dataOut: ok }), 1, 4);
  good(await run(f.target, [0x15, 0x10, 0, 0, 0, 0]));
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, ok.length, 0], { dataOut: ok.subarray(0, 5) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, 3, 0], { dataOut: ok }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  const mdl = Buffer.from(ok);
  mdl[0] = 5;
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, mdl.length, 0], { dataOut: mdl }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 0 },
  );
  const badBd = list6([ctl], Buffer.from([0, 0, 0, 0, 0, 0, 0x10, 0]));
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, badBd.length, 0], { dataOut: badBd }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 9 },
  );
  const unknown = list6([Buffer.from([0x07, 0x0a, ...Buffer.alloc(10)])]);
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, unknown.length, 0], { dataOut: unknown }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 4, bit: 5 },
  );
  const badLen = Buffer.from(ok);
  badLen[5] = 0x08;
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, badLen.length, 0], { dataOut: badLen }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 5 },
  );
  // A bit that is not changeable: TST in the control page, byte 2 bit 7 of the page.
  const tst = Buffer.from(ctl);
  tst[2] |= 0x80;
  const l = list6([tst]);
  checkCondition(
    await run(f.target, [0x15, 0x10, 0, 0, l.length, 0], { dataOut: l }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    { cdb: false, byte: 6, bit: 7 },
  );
  // Nothing was applied by the failed commands.
  assert.deepEqual(await page(f, 0x0a), ctl);
});

test('MODE SELECT (10) with a long block descriptor', async () => {
  const f = await ready();
  const p = await page(f, 0x1c);
  const bd = Buffer.alloc(16);
  bd.writeUInt32BE(512, 12);
  const data = Buffer.concat([Buffer.from([0, 0, 0, 0, 1, 0, 0, 16]), bd, p]);
  good(await run(f.target, [0x55, 0x10, 0, 0, 0, 0, 0, 0, data.length, 0], { dataOut: data }));
});
