/**
 * Bad input over a raw socket, each answered in RFC 7143's terms (STYLE.md convention 5): an
 * unknown opcode gets a Reject (Command not supported) and the connection goes on; a data
 * segment beyond our MaxRecvDataSegmentLength gets a Reject (Protocol Error) and the connection
 * is closed; a header digest error drops the connection; a data digest error on Data-Out gets a
 * Reject (Data digest error) and the command ends with ABORTED COMMAND / PROTOCOL SERVICE CRC
 * ERROR; a CmdSN outside the window is ignored; Data-Out with a wrong offset, DataSN or TTT gets a
 * Reject and ends its command with ABORTED COMMAND; SNACK at ERL 0 is rejected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeR2t,
  decodeReject,
  decodeScsiResponse,
  encodeDataOut,
  encodeNopOut,
  encodeSnack,
  OP,
  REJECT_REASON,
} from '../../src/iscsi/index.js';
import { RawInitiator, serveIscsi, until } from './helpers.js';

const write10 = (lba: number, blocks: number): number[] => [0x2a, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const TUR = [0, 0, 0, 0, 0, 0];

async function turWorks(c: RawInitiator): Promise<void> {
  c.command(TUR);
  assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
}

test('an unknown opcode is rejected with the bad header; the connection goes on', async () => {
  const { port } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const bad = encodeNopOut({
    immediate: true,
    dataSegmentLength: 0,
    lun: 0n,
    itt: 44,
    ttt: 0xffffffff,
    cmdSN: c.cmdSN,
    expStatSN: 0,
  });
  bad[0] = 0x40 | 0x1c; // a vendor-specific opcode
  c.send(bad);
  const r = await c.expect(OP.REJECT);
  assert.equal(decodeReject(r.bhs).reason, REJECT_REASON.COMMAND_NOT_SUPPORTED);
  assert.deepEqual(r.data, bad);
  await turWorks(c);
  // SNACK needs ERL > 0.
  c.send(
    encodeSnack({
      type: 0,
      dataSegmentLength: 0,
      lun: 0n,
      itt: 1,
      tttOrSnackTag: 0,
      expStatSN: 0,
      begRun: 0,
      runLength: 0,
    }),
  );
  assert.equal(decodeReject((await c.expect(OP.REJECT)).bhs).reason, REJECT_REASON.PROTOCOL_ERROR);
  await turWorks(c);
});

test('a data segment above MaxRecvDataSegmentLength: Reject (protocol error), then the connection closes', async () => {
  const { port, server } = await serveIscsi({}, { limits: { maxRecvDataSegmentLength: 8192 } });
  const c = await RawInitiator.connect(port);
  await c.login();
  c.command(write10(0, 32), { write: true, edtl: 16384, data: Buffer.alloc(16384) });
  const r = await c.expect(OP.REJECT);
  assert.equal(decodeReject(r.bhs).reason, REJECT_REASON.PROTOCOL_ERROR);
  assert.ok(await c.closedWithin(3000));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(server.stats().length, 0);
});

test('a header digest error drops the connection without an answer', async () => {
  const { port } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([['HeaderDigest', 'CRC32C']]);
  assert.ok(c.headerDigest);
  await turWorks(c);
  const bhs = encodeNopOut({
    immediate: true,
    dataSegmentLength: 0,
    lun: 0n,
    itt: 5,
    ttt: 0xffffffff,
    cmdSN: c.cmdSN,
    expStatSN: 0,
  });
  c.send(bhs, Buffer.alloc(0), { badHeaderDigest: true });
  assert.equal(await c.next(3000), undefined);
});

test('a data digest error on Data-Out: Reject 0x02, then CHECK CONDITION with PROTOCOL SERVICE CRC ERROR', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([
    ['DataDigest', 'CRC32C'],
    ['ImmediateData', 'No'],
    ['InitialR2T', 'Yes'],
  ]);
  const itt = c.command(write10(0, 1), { write: true, edtl: 512 });
  const r2t = decodeR2t((await c.expect(OP.R2T)).bhs);
  c.send(
    encodeDataOut({
      final: true,
      dataSegmentLength: 512,
      lun: 0n,
      itt,
      ttt: r2t.ttt,
      expStatSN: c.expStatSN,
      dataSN: 0,
      bufferOffset: 0,
    }),
    Buffer.alloc(512, 0xee),
    { badDataDigest: true },
  );
  assert.equal(decodeReject((await c.expect(OP.REJECT)).bhs).reason, REJECT_REASON.DATA_DIGEST_ERROR);
  const s = await c.expect(OP.SCSI_RESPONSE);
  assert.equal(decodeScsiResponse(s.bhs).status, 2);
  assert.deepEqual([s.data[2 + 2], s.data[2 + 12], s.data[2 + 13]], [0x0b, 0x47, 0x05]);
  assert.equal(router.disk[0], 0, 'nothing was written');
  await turWorks(c);
});

test('a CmdSN outside the window is ignored, silently; the next in-window command works', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  c.command(TUR, { cmdSN: (c.cmdSN + 100_000) >>> 0 }); // above MaxCmdSN
  c.command(TUR, { cmdSN: (c.cmdSN - 1) >>> 0 }); // below ExpCmdSN
  await turWorks(c);
  assert.equal(router.executed.length, 1);
});

test('commands are delivered in CmdSN order when they arrive out of order', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const first = c.cmdSN;
  c.command([0x12, 0, 0, 0, 36, 0], { read: true, edtl: 36, cmdSN: first + 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.executed.length, 0, 'waits for the gap');
  c.command(TUR, { cmdSN: first });
  const ops = [await c.next(), await c.next()].map((p) => (p ? p.bhs[0]! & 0x3f : -1)).sort();
  assert.deepEqual(ops, [OP.SCSI_RESPONSE, OP.DATA_IN]);
  assert.deepEqual(
    router.executed.map((x) => x.cdb[0]),
    [0x00, 0x12],
  );
});

test('Data-Out with a wrong offset, DataSN or TTT: Reject and ABORTED COMMAND; the connection goes on', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([
    ['ImmediateData', 'No'],
    ['InitialR2T', 'Yes'],
  ]);
  const cases: [string, (itt: number, ttt: number) => void, number][] = [
    ['offset', (itt, ttt) => c.dataOut(itt, ttt, 512, Buffer.alloc(512)), 0x05],
    ['DataSN', (itt, ttt) => c.dataOut(itt, ttt, 0, Buffer.alloc(512), { dataSN: 3 }), 0x00],
    ['TTT', (itt, ttt) => c.dataOut(itt, ttt + 1000, 0, Buffer.alloc(512)), 0x00],
    ['too much', (itt, ttt) => c.dataOut(itt, ttt, 0, Buffer.alloc(1024)), 0x02],
  ];
  for (const [what, send, ascq] of cases) {
    const itt = c.command(write10(0, 1), { write: true, edtl: 512 });
    const r2t = decodeR2t((await c.expect(OP.R2T)).bhs);
    send(itt, r2t.ttt);
    assert.equal(decodeReject((await c.expect(OP.REJECT)).bhs).reason, REJECT_REASON.PROTOCOL_ERROR, what);
    const s = await c.expect(OP.SCSI_RESPONSE);
    assert.equal(decodeScsiResponse(s.bhs).status, 2, what);
    assert.deepEqual([s.data[2 + 2], s.data[2 + 12], s.data[2 + 13]], [0x0b, 0x4b, ascq], what);
  }
  assert.equal(router.executed.length, 0);
  await turWorks(c);
});

test('immediate data when ImmediateData=No is a protocol error Reject; the slot is used up', async () => {
  const { port } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([['ImmediateData', 'No']]);
  c.command(write10(0, 1), { write: true, edtl: 512, data: Buffer.alloc(512) });
  assert.equal(decodeReject((await c.expect(OP.REJECT)).bhs).reason, REJECT_REASON.PROTOCOL_ERROR);
  await turWorks(c);
});

test('random PDUs never take the server down: every one is answered, rejected or ends its connection', async () => {
  const { port, server } = await serveIscsi({}, { limits: { maxRecvDataSegmentLength: 65536 } });
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
  for (let round = 0; round < 20; round++) {
    const c = await RawInitiator.connect(port);
    await c.login([], { isid: 1000 + round });
    for (let i = 0; i < 30 && !c.ended; i++) {
      const bhs = Buffer.alloc(48);
      for (let j = 0; j < 48; j++) bhs[j] = rnd(256);
      bhs[0] = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x10, 0x1c, 0x03, 0x21][rnd(10)]! | (rnd(2) ? 0x40 : 0);
      bhs[4] = rnd(4); // a few AHS words
      const dsl = rnd(3) === 0 ? rnd(100_000) : rnd(600);
      bhs.writeUIntBE(dsl, 5, 3);
      const ahs = Buffer.alloc(bhs[4]! * 4);
      for (let j = 0; j < ahs.length; j++) ahs[j] = rnd(256);
      const data = Buffer.alloc(dsl);
      c.send(Buffer.concat([bhs, ahs]), data);
    }
    await new Promise((r) => setTimeout(r, 20));
    c.socket.destroy();
  }
  // Whatever happened to those connections, a well-behaved initiator is served.
  const good = await RawInitiator.connect(port);
  await good.login([], { isid: 1 });
  await turWorks(good);
  await until(() => server.stats().length === 1, 3000, 'the fuzzed connections to go');
  const s = server.stats()[0]!;
  assert.equal(s.heldBytes, 0);
});
