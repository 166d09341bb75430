/**
 * Shared-disk cluster scenarios end to end, as an operator runs them: `vdisk iscsi serve` as a
 * process, three cluster nodes as three iSCSI sessions (their own InitiatorNames and ISIDs), and
 * `kill -9` of the server in the middle.
 *
 * - Windows Failover Cluster validation: the three nodes register keys, vm101 reserves Write
 *   Exclusive - Registrants Only, vm102 preempts it and removes vm101's key; vm101's writes get
 *   RESERVATION CONFLICT; READ FULL STATUS tells the truth at each step; the server is killed
 *   with SIGKILL and restarted, and the whole state (APTPL) is there, generation included.
 * - fence_scsi: a fenced node's key is removed (PREEMPT AND ABORT) and its writes are refused,
 *   while the surviving nodes keep writing, across the same kill -9.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { encodeProutParameters } from '../../src/scsi/reservations/data/prout-parameters.js';
import { decodeFullStatus } from '../../src/scsi/reservations/data/read-full-status.js';
import { decodeReadKeys } from '../../src/scsi/reservations/data/read-keys.js';
import { decodeReadReservation } from '../../src/scsi/reservations/data/read-reservation.js';
import { RawInitiator } from '../iscsi/helpers.js';
import { spawnServing, type ServingProcess } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';
import { run } from '../nbd/helpers.js';

const IQN = 'iqn.2026-11.io.vdisk:cluster';
const RESERVATION_CONFLICT = 0x18;

/** PERSISTENT RESERVE OUT service actions and types (SPC-4 §6.16). */
const SA = { REGISTER: 0, RESERVE: 1, RELEASE: 2, CLEAR: 3, PREEMPT: 4, PREEMPT_AND_ABORT: 5 } as const;
const TYPE = { WE_RO: 5 } as const;

interface Server extends ServingProcess {
  port: number;
  /** The output lines after the first (the nbd:// URL with --nbd). */
  more: string[];
}

async function serve(image: string, stateDir: string, extra: string[] = []): Promise<Server> {
  const args = [
    'iscsi',
    'serve',
    '--target',
    IQN,
    '--portal',
    '127.0.0.1:0',
    '--lun',
    `0=${image}`,
    ...extra,
  ];
  const s = await spawnServing(args, extra.includes('--nbd') ? 2 : 1, {
    ...process.env,
    VDISK_STATE_DIR: stateDir,
  });
  return { ...s, port: Number(/:(\d+)\//.exec(s.lines[0]!)![1]), more: s.lines.slice(1) };
}

async function node(port: number, name: string, isid: number): Promise<RawInitiator> {
  const ini = await RawInitiator.connect(port);
  await ini.login([], { initiator: `iqn.2026-11.io.vdisk:${name}`, isid, target: IQN });
  // Clear the power-on unit attention.
  for (let i = 0; i < 5; i++) if ((await ini.scsi([0, 0, 0, 0, 0, 0])).status === 0) break;
  return ini;
}

const prout = (sa: number, type: number, data: Buffer): [number[], { data: Buffer }] => [
  [0x5f, sa, type, 0, 0, 0, 0, 0, data.length, 0],
  { data },
];
const params = (key: bigint, serviceActionKey: bigint, aptpl = false): Buffer =>
  encodeProutParameters({ key, serviceActionKey, specIPt: false, allTgPt: false, aptpl });
const write10 = (lba: number): [number[], { data: Buffer }] => [
  [0x2a, 0, 0, 0, (lba >> 8) & 0xff, lba & 0xff, 0, 0, 1, 0],
  { data: Buffer.alloc(512, lba & 0xff) },
];

async function fullStatus(ini: RawInitiator): Promise<ReturnType<typeof decodeFullStatus>> {
  const r = await ini.scsi([0x5e, 3, 0, 0, 0, 0, 0, 0x10, 0, 0], { read: 4096 });
  assert.equal(r.status, 0);
  return decodeFullStatus(r.data);
}

/** Registered keys and holders from READ FULL STATUS, keyed by initiator name. */
function summary(fs: ReturnType<typeof decodeFullStatus>): {
  gen: number;
  keys: string[];
  holders: string[];
} {
  return {
    gen: fs.generation,
    keys: fs.descriptors.map((d) => `0x${d.key.toString(16)}`).sort(),
    holders: fs.descriptors.filter((d) => d.holder).map((d) => `0x${d.key.toString(16)}`),
  };
}

describe('cluster scenarios over vdisk iscsi serve', () => {
  const dir = tmpDir('vdisk-cluster-');

  test('Windows Failover Cluster validation: register, reserve WE-RO, preempt, conflict, kill -9, restart', async () => {
    const image = path.join(dir, 'quorum.raw');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 << 20);
    const state = path.join(dir, 'state-wfc');
    let srv = await serve(image, state);
    const vm101 = await node(srv.port, 'vm101', 0x400001370101);
    const vm102 = await node(srv.port, 'vm102', 0x400001370102);
    const vm103 = await node(srv.port, 'vm103', 0x400001370103);

    // Each node registers its key, with APTPL so that the state survives power loss.
    for (const [ini, key] of [
      [vm101, 0x101n],
      [vm102, 0x102n],
      [vm103, 0x103n],
    ] as const) {
      assert.equal((await ini.scsi(...prout(SA.REGISTER, 0, params(0n, key, true)))).status, 0);
    }
    assert.deepEqual(summary(await fullStatus(vm103)), {
      gen: 3,
      keys: ['0x101', '0x102', '0x103'],
      holders: [],
    });

    // vm101 reserves Write Exclusive - Registrants Only: registrants write, others do not.
    assert.equal((await vm101.scsi(...prout(SA.RESERVE, TYPE.WE_RO, params(0x101n, 0n)))).status, 0);
    assert.deepEqual(summary(await fullStatus(vm102)), {
      gen: 3,
      keys: ['0x101', '0x102', '0x103'],
      holders: ['0x101'],
    });
    assert.equal((await vm103.scsi(...write10(1))).status, 0, 'a registrant writes under WE-RO');

    // vm102 preempts vm101: vm101's registration goes, vm102 holds the reservation.
    assert.equal((await vm102.scsi(...prout(SA.PREEMPT, TYPE.WE_RO, params(0x102n, 0x101n)))).status, 0);
    assert.deepEqual(summary(await fullStatus(vm103)), {
      gen: 4,
      keys: ['0x102', '0x103'],
      holders: ['0x102'],
    });
    // The removed node gets a unit attention first (REGISTRATIONS PREEMPTED), then conflicts.
    let w = await vm101.scsi(...write10(2));
    if (w.status === 2) w = await vm101.scsi(...write10(2));
    assert.equal(w.status, RESERVATION_CONFLICT, 'the preempted node cannot write');
    assert.equal((await vm102.scsi(...write10(3))).status, 0, 'the new holder writes');

    // kill -9 and restart: the reservation, the keys and the generation are all there.
    srv.proc.kill('SIGKILL');
    await srv.exited;
    for (const ini of [vm101, vm102, vm103]) ini.socket.destroy();
    srv = await serve(image, state);
    const again103 = await node(srv.port, 'vm103', 0x400001370103);
    assert.deepEqual(summary(await fullStatus(again103)), {
      gen: 4,
      keys: ['0x102', '0x103'],
      holders: ['0x102'],
    });
    const rr = decodeReadReservation(
      (await again103.scsi([0x5e, 1, 0, 0, 0, 0, 0, 0x10, 0, 0], { read: 4096 })).data,
    );
    assert.equal(rr.reservation?.type, 'WE_RO');
    assert.equal(
      (await again103.scsi(...write10(4))).status,
      0,
      'a registrant still writes after the restart',
    );
    const again101 = await node(srv.port, 'vm101', 0x400001370101);
    assert.equal(
      (await again101.scsi(...write10(5))).status,
      RESERVATION_CONFLICT,
      'vm101 is still fenced off',
    );
    again101.socket.destroy();
    again103.socket.destroy();
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
  });

  test('fence_scsi: the fenced node key is removed, its writes are refused, the others go on', async () => {
    const image = path.join(dir, 'shared.raw');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 << 20);
    const state = path.join(dir, 'state-fence');
    let srv = await serve(image, state);
    const a = await node(srv.port, 'node-a', 0x400001370001);
    const b = await node(srv.port, 'node-b', 0x400001370002);
    // fence_scsi: every node registers (unfence) and the first one reserves WE-AR... as fence_scsi
    // does with "Write Exclusive, Registrants Only".
    assert.equal((await a.scsi(...prout(SA.REGISTER, 0, params(0n, 0xan, true)))).status, 0);
    assert.equal((await b.scsi(...prout(SA.REGISTER, 0, params(0n, 0xbn, true)))).status, 0);
    assert.equal((await a.scsi(...prout(SA.RESERVE, TYPE.WE_RO, params(0xan, 0n)))).status, 0);
    assert.equal((await b.scsi(...write10(10))).status, 0);
    // Node a fences node b: PREEMPT AND ABORT with b's key.
    assert.equal((await a.scsi(...prout(SA.PREEMPT_AND_ABORT, TYPE.WE_RO, params(0xan, 0xbn)))).status, 0);
    let w = await b.scsi(...write10(11));
    if (w.status === 2) w = await b.scsi(...write10(11));
    assert.equal(w.status, RESERVATION_CONFLICT, 'the fenced node cannot write');
    const keys = decodeReadKeys((await a.scsi([0x5e, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], { read: 4096 })).data);
    assert.deepEqual(keys.keys, [0xan]);
    assert.equal((await a.scsi(...write10(12))).status, 0);

    srv.proc.kill('SIGKILL');
    await srv.exited;
    a.socket.destroy();
    b.socket.destroy();
    srv = await serve(image, state);
    const b2 = await node(srv.port, 'node-b', 0x400001370002);
    assert.equal((await b2.scsi(...write10(13))).status, RESERVATION_CONFLICT, 'still fenced after kill -9');
    // Unfencing is registering again, as fence_scsi does on the node's next start.
    assert.equal((await b2.scsi(...prout(SA.REGISTER, 0, params(0n, 0xbn, true)))).status, 0);
    assert.equal((await b2.scsi(...write10(14))).status, 0, 'registered again, it writes');
    b2.socket.destroy();
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
  });
  test('NBD clients of the same disk are an unregistered party: a reservation keeps their writes out', async () => {
    const image = path.join(dir, 'mixed.raw');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 << 20);
    const srv = await serve(image, path.join(dir, 'state-nbd'), ['--nbd', '127.0.0.1:0']);
    const nbd = srv.more[0]!;
    const qemuIo = (cmd: string): Promise<{ status: number | null; out: string }> =>
      run('qemu-io', ['-f', 'raw', '-c', cmd, nbd]).then((r) => ({
        status: r.status,
        out: r.stdout + r.stderr,
      }));
    assert.match((await qemuIo('write -P 0x44 0 64k')).out, /wrote 65536/, 'no reservation: NBD writes');
    const a = await node(srv.port, 'vm101', 0x400001370201);
    assert.equal((await a.scsi(...prout(SA.REGISTER, 0, params(0n, 0xa1n)))).status, 0);
    assert.equal((await a.scsi(...prout(SA.RESERVE, TYPE.WE_RO, params(0xa1n, 0n)))).status, 0);
    const refused = await qemuIo('write -P 0x55 0 64k');
    assert.match(refused.out, /Operation not permitted/, 'WE-RO held: the NBD write is refused with EPERM');
    assert.match(
      (await qemuIo('read -P 0x44 0 64k')).out,
      /read 65536/,
      'WE-RO lets unregistered clients read',
    );
    assert.equal((await a.scsi(...prout(SA.RELEASE, TYPE.WE_RO, params(0xa1n, 0n)))).status, 0);
    assert.match((await qemuIo('write -P 0x55 0 64k')).out, /wrote 65536/, 'released: NBD writes again');
    a.socket.destroy();
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
  });
});
