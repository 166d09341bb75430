/** REPORT LUNS, REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../../../src/scsi/index.js';
import { decodeAllCommands, decodeOneCommand } from '../../../src/scsi/data/supported-opcodes.js';
import { decodeSupportedTmf } from '../../../src/scsi/data/supported-tmf.js';
import { decodeTargetPortGroups } from '../../../src/scsi/data/target-port-groups.js';
import { clearUa, good, invalidField, nexus, ready, run } from '../helpers.js';

const rsoc = (options: number, opcode = 0, sa = 0, rctd = false, alloc = 65535) => [
  0xa3,
  0x0c,
  (rctd ? 0x80 : 0) | options,
  opcode,
  sa >> 8,
  sa & 0xff,
  0,
  0,
  alloc >> 8,
  alloc & 0xff,
  0,
  0,
];

test('REPORT LUNS select reports 00h, 01h, 02h', async () => {
  const f = await ready();
  f.target.addLun(300, f.lu);
  const all = (await run(f.target, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])).dataIn!;
  assert.equal(all.toString('hex'), '00000010' + '00000000' + '0000000000000000' + '412c000000000000');
  const wk = (await run(f.target, [0xa0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0])).dataIn!;
  assert.equal(wk.toString('hex'), '0000000000000000');
  assert.deepEqual((await run(f.target, [0xa0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0])).dataIn, all);
  const clipped = await run(f.target, [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0]);
  assert.equal(clipped.dataIn!.length, 12);
  assert.equal(clipped.transferLength, 12);
  invalidField(await run(f.target, [0xa0, 0, 0x10, 0, 0, 0, 0, 0, 1, 0, 0, 0]), 2);
});

test('RSOC all commands lists the table; RCTD adds timeouts; SERVACTV only with a service action', async () => {
  const f = await ready();
  const list = decodeAllCommands((await run(f.target, rsoc(0))).dataIn!);
  // UNMAP is absent with discard=ignore, the reservation commands without a reservation engine.
  assert.equal(list.length, COMMANDS.filter((e) => !e.available || e.available(f.lu)).length);
  for (const absent of [0x42, 0x5e, 0x5f, 0x16, 0x17]) assert.ok(!list.some((d) => d.opcode === absent));
  for (const d of list) {
    const e = COMMANDS.find((x) => x.opcode === d.opcode && x.serviceAction === d.serviceAction)!;
    assert.equal(d.cdbLength, e.cdbLength);
    assert.equal(d.timeouts, undefined);
  }
  const withT = decodeAllCommands((await run(f.target, rsoc(0, 0, 0, true))).dataIn!);
  assert.deepEqual(withT.find((d) => d.opcode === 0x35)!.timeouts, { nominal: 5, recommended: 60 });
  const on = await ready({ discard: 'on' });
  assert.ok(decodeAllCommands((await run(on.target, rsoc(0))).dataIn!).some((d) => d.opcode === 0x42));
});

test('RSOC one command: options 1, 2, 3, unsupported opcodes, and the usage data', async () => {
  const f = await ready();
  const read10 = decodeOneCommand((await run(f.target, rsoc(1, 0x28))).dataIn!);
  assert.deepEqual(read10, {
    support: 3,
    usage: [0x28, 0x1e, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00],
  });
  const rc16 = decodeOneCommand((await run(f.target, rsoc(2, 0x9e, 0x10, true))).dataIn!);
  assert.equal(rc16.usage[0], 0x9e);
  assert.equal(rc16.usage[1], 0x10);
  assert.equal(rc16.usage.length, 16);
  assert.deepEqual(rc16.timeouts, { nominal: 0, recommended: 10 });
  invalidField(await run(f.target, rsoc(1, 0x9e)), 2, 2);
  invalidField(await run(f.target, rsoc(2, 0x28)), 2, 2);
  assert.equal(decodeOneCommand((await run(f.target, rsoc(1, 0x89))).dataIn!).support, 3);
  assert.deepEqual(decodeOneCommand((await run(f.target, rsoc(1, 0xc0))).dataIn!), { support: 1, usage: [] });
  assert.deepEqual(decodeOneCommand((await run(f.target, rsoc(2, 0x9e, 0x1f))).dataIn!), {
    support: 1,
    usage: [],
  });
  assert.equal(decodeOneCommand((await run(f.target, rsoc(3, 0xa3, 0x0d))).dataIn!).support, 3);
  invalidField(await run(f.target, rsoc(4)), 2, 2);
});

test('REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS, basic and extended', async () => {
  const f = await ready();
  const r = await run(f.target, [0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]);
  good(r);
  assert.equal(r.dataIn!.toString('hex'), 'de060000');
  const ext = await run(f.target, [0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0]);
  assert.equal(ext.dataIn!.length, 16);
  assert.equal(decodeSupportedTmf(ext.dataIn!).luReset, true);
});

test('REPORT TARGET PORT GROUPS: implicit ALUA, every port active/optimized, grouped by TPGT', async () => {
  const f = await ready();
  assert.equal((await run(f.target, [0x12, 0, 0, 0, 96, 0])).dataIn![5]! & 0x30, 0x10, 'TPGS = 01b');
  const other = { ...nexus(3), relativeTargetPortId: 2, targetPortGroup: 2, key: 'other-port' };
  await clearUa(f.target, other);
  const r = await run(f.target, [0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  good(r);
  assert.deepEqual(decodeTargetPortGroups(r.dataIn!), {
    extended: false,
    groups: [
      { pref: false, state: 0, supported: 1, group: 1, statusCode: 0, ports: [1] },
      { pref: false, state: 0, supported: 1, group: 2, statusCode: 0, ports: [2] },
    ],
  });
  const ext = await run(f.target, [0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  assert.equal(decodeTargetPortGroups(ext.dataIn!).extended, true);
  invalidField(await run(f.target, [0xa3, 0x4a, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), 1, 7);
});
