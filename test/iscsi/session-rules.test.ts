/**
 * More session rules over a raw socket: connection reinstatement (same TSIH and CID), Logout
 * reasons 1 and 2 (CID not found, recovery not supported at ERL 0), SendTargets by name and in a
 * normal session, the login timeout, ORDERED commands holding back what follows them, and the
 * cap on immediate commands (Reject 0x06).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeLogoutResponse,
  decodeR2t,
  decodeReject,
  decodeScsiResponse,
  decodeTaskMgmtResponse,
  decodeTextPairs,
  encodeLogoutRequest,
  encodeScsiCommand,
  encodeTaskMgmtRequest,
  encodeTextPairs,
  encodeTextRequest,
  LOGOUT_RESPONSE,
  OP,
  REJECT_REASON,
} from '../../src/iscsi/index.js';
import { INITIATOR, RawInitiator, serveIscsi, TARGET, until } from './helpers.js';

test('connection reinstatement: a login with the session TSIH and the same CID replaces the connection', async () => {
  const { port, server, router } = await serveIscsi();
  const a = await RawInitiator.connect(port);
  const tsih = await a.login();
  const b = await RawInitiator.connect(port);
  const r = await b.loginStep(
    [
      ['InitiatorName', INITIATOR],
      ['TargetName', TARGET],
      ['AuthMethod', 'None'],
    ],
    { csg: 0, nsg: 3, transit: true, tsih, cid: 0 },
  );
  assert.equal(r.status, 0);
  assert.equal(r.tsih, tsih);
  assert.ok(await a.closedWithin(2000));
  assert.equal(router.lost.length, 1, 'the old connection tasks ended with a nexus loss');
  assert.equal(server.sessionCount, 1);
  b.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await b.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
});

test('logout reasons: close connection with a wrong CID, remove for recovery at ERL 0', async () => {
  const { port } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const logout = (reason: number, cid: number): void =>
    c.send(
      encodeLogoutRequest({
        immediate: true,
        reason,
        dataSegmentLength: 0,
        itt: 70 + reason,
        cid,
        cmdSN: c.cmdSN,
        expStatSN: c.expStatSN,
      }),
    );
  logout(1, 5);
  assert.equal(
    decodeLogoutResponse((await c.expect(OP.LOGOUT_RESPONSE)).bhs).response,
    LOGOUT_RESPONSE.CID_NOT_FOUND,
  );
  logout(2, 0);
  assert.equal(
    decodeLogoutResponse((await c.expect(OP.LOGOUT_RESPONSE)).bhs).response,
    LOGOUT_RESPONSE.RECOVERY_NOT_SUPPORTED,
  );
  logout(1, 0);
  const r = decodeLogoutResponse((await c.expect(OP.LOGOUT_RESPONSE)).bhs);
  assert.equal(r.response, LOGOUT_RESPONSE.SUCCESS);
  assert.equal(r.time2Wait, 2);
  assert.ok(await c.closedWithin(2000));
});

test('SendTargets by name, and in a normal session only the session target', async () => {
  const { port } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const ask = async (value: string): Promise<[string, string][]> => {
    const text = encodeTextPairs([['SendTargets', value]]);
    c.send(
      encodeTextRequest({
        immediate: false,
        final: true,
        continue: false,
        dataSegmentLength: text.length,
        lun: 0n,
        itt: c.itt++,
        ttt: 0xffffffff,
        cmdSN: c.cmdSN++,
        expStatSN: c.expStatSN,
      }),
      text,
    );
    return decodeTextPairs((await c.expect(OP.TEXT_RESPONSE)).data);
  };
  const me: [string, string][] = [
    ['TargetName', TARGET],
    ['TargetAddress', `127.0.0.1:${port},1`],
  ];
  assert.deepEqual(await ask('All'), me);
  assert.deepEqual(await ask(''), me);
  assert.deepEqual(await ask(TARGET), me);
  assert.deepEqual(await ask('iqn.2026-11.io.vdisk:other'), []);
  // The non-immediate Text Requests took their CmdSNs: a command after them still runs.
  c.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
});

test('a login that does not finish in time is dropped', async () => {
  const { port, server } = await serveIscsi({}, { timers: { loginTimeoutMs: 200 } });
  const c = await RawInitiator.connect(port);
  assert.ok(await c.closedWithin(2000));
  await until(() => server.stats().length === 0);
});

test('an ORDERED command waits for the commands before it and holds back the ones after it', async () => {
  const { port, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([
    ['ImmediateData', 'No'],
    ['InitialR2T', 'Yes'],
  ]);
  const w = c.command([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { write: true, edtl: 512 }); // waits for data
  const r2t = decodeR2t((await c.expect(OP.R2T)).bhs);
  const cdb = Buffer.alloc(16);
  c.send(
    encodeScsiCommand({
      immediate: false,
      final: true,
      read: false,
      write: false,
      attr: 2, // ORDERED
      ahsLength: 0,
      dataSegmentLength: 0,
      lun: 0n,
      itt: 900,
      expectedDataTransferLength: 0,
      cmdSN: c.cmdSN++,
      expStatSN: c.expStatSN,
      cdb,
    }),
  );
  c.command([0, 0, 0, 0, 0, 0]); // a SIMPLE command after the ORDERED one
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(router.executed.length, 0, 'nothing passes the write that waits for its data');
  c.dataOut(w, r2t.ttt, 0, Buffer.alloc(512, 1));
  for (let i = 0; i < 3; i++) await c.expect(OP.SCSI_RESPONSE);
  assert.deepEqual(
    router.executed.map((x) => x.attribute),
    ['simple', 'ordered', 'simple'],
  );
});

test('immediate commands beyond twice the command window are rejected (0x06)', async () => {
  const { port, router } = await serveIscsi({}, { commandWindow: 2 });
  const c = await RawInitiator.connect(port);
  await c.login();
  for (let i = 0; i < 4; i++) c.command([0xc0, 0, 0, 0, 0, 0], { immediate: true });
  await until(() => router.waiting === 4);
  c.command([0, 0, 0, 0, 0, 0], { immediate: true });
  assert.equal(decodeReject((await c.expect(OP.REJECT)).bhs).reason, REJECT_REASON.IMMEDIATE_COMMAND_REJECT);
  router.releaseSlow();
  for (let i = 0; i < 4; i++) await c.expect(OP.SCSI_RESPONSE);
});

test('LOGICAL UNIT RESET from one session ends another session’s command that waits for data', async () => {
  const { port, server, router } = await serveIscsi();
  const a = await RawInitiator.connect(port);
  await a.login(
    [
      ['ImmediateData', 'No'],
      ['InitialR2T', 'Yes'],
    ],
    { isid: 1 },
  );
  const b = await RawInitiator.connect(port);
  await b.login([], { isid: 2 });
  const itt = a.command([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { write: true, edtl: 512 });
  const r2t = decodeR2t((await a.expect(OP.R2T)).bhs);
  await until(() => server.stats().some((s) => s.heldBytes === 512));
  b.send(
    encodeTaskMgmtRequest({
      immediate: true,
      function: 5,
      dataSegmentLength: 0,
      lun: 0n,
      itt: 42,
      referencedTaskTag: 0xffffffff,
      cmdSN: b.cmdSN,
      expStatSN: b.expStatSN,
      refCmdSN: 0,
      expDataSN: 0,
    }),
  );
  assert.equal(decodeTaskMgmtResponse((await b.expect(OP.TASK_MGMT_RESPONSE)).bhs).response, 0);
  assert.deepEqual(
    server.stats().map((s) => [s.tasks, s.heldBytes]),
    [
      [0, 0],
      [0, 0],
    ],
  );
  // A's late Data-Out is discarded; its next command works, and the write never reached the core.
  a.dataOut(itt, r2t.ttt, 0, Buffer.alloc(512, 9));
  a.command([0, 0, 0, 0, 0, 0]);
  assert.equal(decodeScsiResponse((await a.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
  assert.equal(router.disk[0], 0);
  assert.deepEqual(
    router.tmfs.map((t) => t.fn),
    ['logical-unit-reset'],
  );
});
