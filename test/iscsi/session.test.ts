/**
 * The target over a real socket, driven PDU by PDU by RawInitiator against a FakeRouter: the
 * full feature phase (reads, writes with immediate data and R2T, Data-In splitting, residuals,
 * digests), Text/SendTargets, task management, Logout, session reinstatement and the session
 * rules of one connection per session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeDataIn,
  decodeLogoutResponse,
  decodeR2t,
  decodeScsiResponse,
  decodeTaskMgmtResponse,
  decodeTextPairs,
  encodeLogoutRequest,
  encodeTaskMgmtRequest,
  encodeTextPairs,
  encodeTextRequest,
  LOGIN_STATUS,
  OP,
  STAGE,
  TMF_RESPONSE,
} from '../../src/iscsi/index.js';
import { FakeRouter, INITIATOR, RawInitiator, serveIscsi, TARGET, until } from './helpers.js';

const read10 = (lba: number, blocks: number): number[] => [0x28, 0, 0, 0, 0, lba, 0, 0, blocks, 0];
const write10 = (lba: number, blocks: number): number[] => [0x2a, 0, 0, 0, 0, lba, 0, 0, blocks, 0];

test('reads: Data-In in MaxRecvDataSegmentLength pieces, status in the last one, residuals', async () => {
  const { port, router } = await serveIscsi();
  router.disk.fill(0x11, 0, 512);
  router.disk.fill(0x22, 512, 2048);
  const c = await RawInitiator.connect(port);
  await c.login([['MaxRecvDataSegmentLength', '512']]);
  const itt = c.command(read10(0, 4), { read: true, edtl: 2048 });
  const got: Buffer[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await c.expect(OP.DATA_IN);
    const d = decodeDataIn(r.bhs);
    assert.equal(d.itt, itt);
    assert.equal(d.dataSN, i);
    assert.equal(d.bufferOffset, i * 512);
    assert.equal(d.statusPresent, i === 3);
    assert.equal(d.final, i === 3);
    got.push(r.data);
  }
  assert.deepEqual(Buffer.concat(got), router.disk.subarray(0, 2048));
  // One block with EDTL 10000: underflow of 10000 - 512 (libiscsi's Read10Residuals).
  c.command(read10(0, 1), { read: true, edtl: 10000 });
  const r = await c.expect(OP.DATA_IN);
  const d = decodeDataIn(r.bhs);
  assert.ok(d.statusPresent && d.underflow && !d.overflow);
  assert.equal(d.residualCount, 10000 - 512);
  // Two blocks with EDTL 512: overflow of 512, only 512 bytes sent.
  c.command(read10(0, 2), { read: true, edtl: 512 });
  const o = await c.expect(OP.DATA_IN);
  assert.equal(o.data.length, 512);
  assert.ok(decodeDataIn(o.bhs).overflow);
  assert.equal(decodeDataIn(o.bhs).residualCount, 512);
  // CHECK CONDITION: a SCSI Response with the sense data behind its 2-byte length.
  c.command([0xee, 0, 0, 0, 0, 0], { read: true, edtl: 0 });
  const s = await c.expect(OP.SCSI_RESPONSE);
  assert.equal(decodeScsiResponse(s.bhs).status, 2);
  assert.equal(s.data.readUInt16BE(0), 18);
  assert.equal(s.data[2 + 2], 0x05);
});

test('writes: immediate data, unsolicited Data-Out and R2T-solicited data all land', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([
    ['InitialR2T', 'No'],
    ['ImmediateData', 'Yes'],
    ['FirstBurstLength', '1024'],
    ['MaxBurstLength', '1024'],
  ]);
  // 512 bytes immediate: the whole write in the command PDU.
  c.command(write10(1, 1), { write: true, edtl: 512, data: Buffer.alloc(512, 0xa1) });
  assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
  assert.deepEqual(router.disk.subarray(512, 1024), Buffer.alloc(512, 0xa1));
  // 4 blocks: 512 immediate + 512 unsolicited (FirstBurstLength 1024), then R2T for 1024.
  const data = Buffer.alloc(2048);
  for (let i = 0; i < 4; i++) data.fill(0xb0 + i, i * 512, (i + 1) * 512);
  const itt = c.command(write10(4, 4), {
    write: true,
    edtl: 2048,
    data: data.subarray(0, 512),
    final: false,
  });
  c.dataOut(itt, 0xffffffff, 512, data.subarray(512, 1024), { final: true, dataSN: 0 });
  const r2t = decodeR2t((await c.expect(OP.R2T)).bhs);
  assert.equal(r2t.bufferOffset, 1024);
  assert.equal(r2t.desiredDataTransferLength, 1024);
  c.dataOut(itt, r2t.ttt, 1024, data.subarray(1024, 1536), { final: false, dataSN: 0 });
  c.dataOut(itt, r2t.ttt, 1536, data.subarray(1536), { final: true, dataSN: 1 });
  const resp = decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs);
  assert.equal(resp.status, 0);
  assert.equal(resp.expDataSN, 1);
  assert.deepEqual(router.disk.subarray(2048, 4096), data);
});

test('digests: CRC32C on headers and data both ways', async () => {
  const { port, router } = await serveIscsi();
  router.disk.fill(0x5c, 0, 4096);
  const c = await RawInitiator.connect(port);
  await c.login([
    ['HeaderDigest', 'CRC32C'],
    ['DataDigest', 'CRC32C'],
  ]);
  assert.ok(c.headerDigest && c.dataDigest);
  c.command(write10(2, 1), { write: true, edtl: 512, data: Buffer.alloc(512, 0x77) });
  assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
  c.command(read10(0, 3), { read: true, edtl: 1536 });
  const r = await c.expect(OP.DATA_IN);
  assert.equal(r.data.length, 1536);
  assert.deepEqual(r.data.subarray(1024), Buffer.alloc(512, 0x77));
});

test('SendTargets in a discovery session and in a normal session', async () => {
  const { port } = await serveIscsi({ alias: 'x' });
  const c = await RawInitiator.connect(port);
  const r = await c.loginStep(
    [
      ['InitiatorName', INITIATOR],
      ['SessionType', 'Discovery'],
      ['AuthMethod', 'None'],
    ],
    { csg: STAGE.SECURITY, nsg: STAGE.FULL_FEATURE, transit: true },
  );
  assert.equal(r.status, 0);
  const text = encodeTextPairs([['SendTargets', 'All']]);
  c.send(
    encodeTextRequest({
      immediate: true,
      final: true,
      continue: false,
      dataSegmentLength: text.length,
      lun: 0n,
      itt: 77,
      ttt: 0xffffffff,
      cmdSN: c.cmdSN,
      expStatSN: c.expStatSN,
    }),
    text,
  );
  const t = await c.expect(OP.TEXT_RESPONSE);
  assert.deepEqual(decodeTextPairs(t.data), [
    ['TargetName', TARGET],
    ['TargetAddress', `127.0.0.1:${port},1`],
  ]);
  // SCSI commands have no place in a discovery session.
  c.command([0, 0, 0, 0, 0, 0]);
  assert.equal((await c.expect(OP.REJECT)).bhs[2], 0x04);
});

test('task management: ABORT TASK of a running command answers without a response for it', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const slowCmdSN = c.cmdSN;
  const itt = c.command([0xc0, 0, 0, 0, 0, 0]);
  await until(() => router.waiting === 1, 2000, 'the slow command');
  const tmf = (fn: number, ref: number, refCmdSN: number): void => {
    c.send(
      encodeTaskMgmtRequest({
        immediate: true,
        function: fn,
        dataSegmentLength: 0,
        lun: 0n,
        itt: 500 + fn,
        referencedTaskTag: ref,
        cmdSN: c.cmdSN,
        expStatSN: c.expStatSN,
        refCmdSN,
        expDataSN: 0,
      }),
    );
  };
  tmf(1, itt, slowCmdSN);
  const r = decodeTaskMgmtResponse((await c.expect(OP.TASK_MGMT_RESPONSE)).bhs);
  assert.equal(r.response, TMF_RESPONSE.FUNCTION_COMPLETE);
  // An unknown task whose RefCmdSN is already past: "task does not exist".
  tmf(1, 0x1234, slowCmdSN);
  assert.equal(
    decodeTaskMgmtResponse((await c.expect(OP.TASK_MGMT_RESPONSE)).bhs).response,
    TMF_RESPONSE.TASK_DOES_NOT_EXIST,
  );
  // TASK REASSIGN needs ERL 2; LUN RESET goes to the core.
  tmf(8, itt, slowCmdSN);
  assert.equal(
    decodeTaskMgmtResponse((await c.expect(OP.TASK_MGMT_RESPONSE)).bhs).response,
    TMF_RESPONSE.REASSIGNMENT_NOT_SUPPORTED,
  );
  tmf(5, 0xffffffff, 0);
  assert.equal(decodeTaskMgmtResponse((await c.expect(OP.TASK_MGMT_RESPONSE)).bhs).response, 0);
  assert.deepEqual(
    router.tmfs.map((t) => t.fn),
    ['abort-task', 'logical-unit-reset'],
  );
  // The aborted command got no response: the next PDU is the TUR's.
  c.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
});

test('logout closes the session: response, connection closed, nexus loss for the core', async () => {
  const { port, router, server } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  c.send(
    encodeLogoutRequest({
      immediate: true,
      reason: 0,
      dataSegmentLength: 0,
      itt: 9,
      cid: 0,
      cmdSN: c.cmdSN,
      expStatSN: c.expStatSN,
    }),
  );
  const r = decodeLogoutResponse((await c.expect(OP.LOGOUT_RESPONSE)).bhs);
  assert.equal(r.response, 0);
  assert.ok(await c.closedWithin(2000));
  await until(() => router.lost.length === 1, 2000, 'nexus loss');
  assert.match(router.lost[0]!, /,i,0x400001370000\|iqn.2026-11.io.vdisk.test:disk,t,0x0001$/);
  await until(() => server.sessionCount === 0);
});

test('session reinstatement: a new login with the same ISID closes the old session', async () => {
  const { port, router, server } = await serveIscsi();
  const a = await RawInitiator.connect(port);
  const tsihA = await a.login();
  const b = await RawInitiator.connect(port);
  const tsihB = await b.login();
  assert.notEqual(tsihA, tsihB);
  assert.ok(await a.closedWithin(2000), 'the old connection is closed');
  assert.equal(router.lost.length, 1);
  assert.equal(server.sessionCount, 1);
  b.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await b.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
  // A different ISID is another session, side by side.
  const c = await RawInitiator.connect(port);
  await c.login([], { isid: 0x400001370001 });
  assert.equal(server.sessionCount, 2);
});

test('one connection per session: another CID is 02/06, an unknown TSIH 02/0a', async () => {
  const { port } = await serveIscsi();
  const a = await RawInitiator.connect(port);
  const tsih = await a.login();
  const leading: [string, string][] = [
    ['InitiatorName', INITIATOR],
    ['TargetName', TARGET],
    ['AuthMethod', 'None'],
  ];
  const b = await RawInitiator.connect(port);
  const r = await b.loginStep(leading, { csg: 0, nsg: 3, transit: true, tsih, cid: 1 });
  assert.equal(r.status, LOGIN_STATUS.TOO_MANY_CONNECTIONS);
  assert.ok(await b.closedWithin(2000));
  const c = await RawInitiator.connect(port);
  assert.equal(
    (await c.loginStep(leading, { csg: 0, nsg: 3, transit: true, tsih: 999 })).status,
    LOGIN_STATUS.SESSION_DOES_NOT_EXIST,
  );
  // The first session is untouched.
  a.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await a.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
});

test('many sessions from many initiators at once', async () => {
  const { port, router, server } = await serveIscsi();
  const clients = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const c = await RawInitiator.connect(port);
      await c.login([], { initiator: `iqn.2026-11.io.vdisk.test:host${i}` });
      return c;
    }),
  );
  assert.equal(server.sessionCount, 20);
  await Promise.all(
    clients.map(async (c, i) => {
      c.command(write10(i, 1), { write: true, edtl: 512, data: Buffer.alloc(512, i + 1) });
      assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
    }),
  );
  for (let i = 0; i < 20; i++) assert.equal(router.disk[i * 512], i + 1);
});

test('a second login request in the same session is rejected, the CHAP target answers with status', async () => {
  const router = new FakeRouter();
  const { port } = await serveIscsi({ router, chap: { user: 'alice', secret: 'twelve-chars' } });
  const c = await RawInitiator.connect(port);
  const r = await c.loginStep(
    [
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET],
      ['AuthMethod', 'None'],
    ],
    { csg: 0, nsg: 1, transit: true },
  );
  assert.equal(r.status, LOGIN_STATUS.AUTHENTICATION_FAILURE);
  assert.ok(await c.closedWithin(2000));
});
