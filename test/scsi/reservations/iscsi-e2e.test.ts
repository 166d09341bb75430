/**
 * End to end over iSCSI: the engine behind a real IscsiServer and ScsiTarget, driven by raw
 * initiators (two InitiatorNames, their own ISIDs) through login, SCSI Command PDUs with
 * immediate data, Data-In and SCSI Response. The Windows-cluster-like sequence runs, then the
 * target restarts (a new server, logical unit and engine over the same state directory) and the
 * initiators log in again: READ FULL STATUS reports the same state and the preempted node still
 * gets RESERVATION CONFLICT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/block/index.js';
import { LogicalUnit, ScsiStatus, ScsiTarget } from '../../../src/scsi/index.js';
import { FileReservationStore, PersistentReservations } from '../../../src/scsi/reservations/index.js';
import { decodeFullStatus } from '../../../src/scsi/reservations/data/read-full-status.js';
import { encodeProutParameters } from '../../../src/scsi/reservations/data/prout-parameters.js';
import { RawInitiator, serveIscsi, TARGET } from '../../iscsi/helpers.js';
import { tmpDir } from '../../helpers/tmp.js';
import { prinCdb, proutCdb, SA, TYPE, UUID } from './harness.js';

const dev = new MemoryDevice(4 * 1024 * 1024);

async function startTarget(dir: string): Promise<number> {
  const lu = new LogicalUnit(dev, { uuid: UUID });
  const pr = new PersistentReservations({ uuid: UUID, store: new FileReservationStore(dir) });
  await pr.start();
  lu.reservations = pr;
  const target = new ScsiTarget(TARGET);
  target.addLun(0, lu);
  const served = await serveIscsi({ router: target as never });
  return served.port;
}

async function session(port: number, name: string, isid: number): Promise<RawInitiator> {
  const ini = await RawInitiator.connect(port);
  await ini.login([], { initiator: `iqn.2026-11.io.vdisk:${name}`, isid });
  for (let i = 0; i < 5; i++) if ((await ini.scsi([0, 0, 0, 0, 0, 0])).status === ScsiStatus.GOOD) break;
  return ini;
}

const params = (key: bigint, sark: bigint, aptpl = false) =>
  encodeProutParameters({ key, serviceActionKey: sark, specIPt: false, allTgPt: false, aptpl });

async function status(ini: RawInitiator) {
  const r = await ini.scsi(prinCdb(3, 4096), { read: 4096 });
  assert.equal(r.status, ScsiStatus.GOOD);
  return decodeFullStatus(r.data).descriptors.map((d) => [d.transportId.name.split(':')[1], d.key, d.holder]);
}

const WRITE10 = [0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0];

test('over iSCSI: register, reserve WE_RO, preempt, conflict; the state survives a target restart', async () => {
  const dir = tmpDir('vdisk-pr-e2e-');
  let port = await startTarget(dir);
  let a = await session(port, 'node-a', 0x400001370001);
  let b = await session(port, 'node-b', 0x400001370002);
  assert.equal((await a.scsi(proutCdb(SA.REGISTER_AND_IGNORE), { data: params(0n, 0xan, true) })).status, 0);
  assert.equal((await b.scsi(proutCdb(SA.REGISTER_AND_IGNORE), { data: params(0n, 0xbn, true) })).status, 0);
  assert.equal((await a.scsi(proutCdb(SA.RESERVE, TYPE.WE_RO), { data: params(0xan, 0n) })).status, 0);
  assert.deepEqual(await status(a), [
    ['node-a', 0xan, true],
    ['node-b', 0xbn, false],
  ]);
  assert.equal((await b.scsi(proutCdb(SA.PREEMPT, TYPE.WE_RO), { data: params(0xbn, 0xan) })).status, 0);
  // node-a first hears REGISTRATIONS PREEMPTED, then its writes conflict.
  assert.equal((await a.scsi(WRITE10, { data: Buffer.alloc(512) })).status, ScsiStatus.CHECK_CONDITION);
  assert.equal((await a.scsi(WRITE10, { data: Buffer.alloc(512) })).status, ScsiStatus.RESERVATION_CONFLICT);
  assert.equal((await b.scsi(WRITE10, { data: Buffer.alloc(512) })).status, ScsiStatus.GOOD);

  port = await startTarget(dir); // the restarted target (the old one keeps running until the test ends)
  a = await session(port, 'node-a', 0x400001370001);
  b = await session(port, 'node-b', 0x400001370002);
  assert.deepEqual(await status(b), [['node-b', 0xbn, true]]);
  assert.equal((await a.scsi(WRITE10, { data: Buffer.alloc(512) })).status, ScsiStatus.RESERVATION_CONFLICT);
  assert.equal((await b.scsi(WRITE10, { data: Buffer.alloc(512) })).status, ScsiStatus.GOOD);
});
