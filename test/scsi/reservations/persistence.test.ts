/**
 * Durability of persistent reservation state: the state file's golden bytes and round trip,
 * every truncation and bit flip of it refused with a typed error, the file store's atomic replace,
 * APTPL across a simulated restart (on: everything survives; off: power on clears it), a failed
 * save failing the command without changing anything, and kill -9 in the middle of saves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  FileReservationStore,
  MemoryReservationStore,
  ReservationStateError,
  type PrState,
} from '../../../src/scsi/reservations/index.js';
import { decodeState, encodeState } from '../../../src/scsi/reservations/state-codec.js';
import { tmpDir } from '../../helpers/tmp.js';
import {
  ASC,
  conflict,
  fullStatus,
  good,
  nx,
  prFixture,
  prout,
  readKeys,
  readReservation,
  register,
  reportCapabilities,
  SA,
  sense,
  SenseKey,
  settle,
  TYPE,
  UUID,
  write10,
  block,
} from './harness.js';

const STATE: PrState = {
  generation: 5,
  aptpl: true,
  registrations: [
    {
      key: 0xabcn,
      initiator: { format: 'port', name: 'iqn.x:a', isid: '000000000001' },
      targetPort: 'iqn.t,t,0x0001',
      relativeTargetPortId: 1,
      allTgPt: false,
    },
    {
      key: 0xdefn,
      initiator: { format: 'device', name: 'iqn.x:b' },
      targetPort: undefined,
      relativeTargetPortId: 2,
      allTgPt: true,
    },
  ],
  reservation: {
    type: 'WE_RO',
    scope: 0,
    holder: {
      initiator: { format: 'port', name: 'iqn.x:a', isid: '000000000001' },
      targetPort: 'iqn.t,t,0x0001',
      relativeTargetPortId: 1,
    },
  },
};

const GOLDEN_STATE =
  '{"generation":5,"aptpl":true,"registrations":[' +
  '{"key":"0000000000000abc","initiator":"iqn.x:a,i,0x000000000001","targetPort":"iqn.t,t,0x0001","rtpi":1,"allTgPt":false},' +
  '{"key":"0000000000000def","initiator":"iqn.x:b","targetPort":null,"rtpi":2,"allTgPt":true}],' +
  '"reservation":{"type":"WE_RO","scope":0,"holder":{"initiator":"iqn.x:a,i,0x000000000001","targetPort":"iqn.t,t,0x0001","rtpi":1}}}';

test('state file: golden bytes and round trip', async () => {
  const { createHash } = await import('node:crypto');
  const sha = createHash('sha256').update(GOLDEN_STATE).digest('hex');
  const golden = `{"format":"vdisk-pr","version":1,"uuid":"${UUID}","sha256":"${sha}","state":${GOLDEN_STATE}}\n`;
  assert.equal(encodeState(UUID, STATE).toString(), golden);
  assert.deepEqual(decodeState(UUID, Buffer.from(golden)), STATE);
});

test('state file: every truncation and every bit flip is a ReservationStateError, never a crash', () => {
  const good = encodeState(UUID, STATE);
  for (let n = 0; n < good.length - 1; n++) {
    assert.throws(
      () => decodeState(UUID, good.subarray(0, n)),
      (e) => e instanceof ReservationStateError && e.code === 'CORRUPT',
      `truncated to ${n}`,
    );
  }
  let flips = 0;
  for (let i = 0; i < good.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from(good);
      b[i]! ^= 1 << bit;
      try {
        decodeState(UUID, b);
        assert.fail(`flip of byte ${i} bit ${bit} went unnoticed`);
      } catch (e) {
        assert.ok(e instanceof ReservationStateError, `flip of byte ${i} bit ${bit}: ${String(e)}`);
        flips++;
      }
    }
  }
  assert.equal(flips, good.length * 8);
});

test('state file: newer version, another LU, broken invariants', () => {
  const text = encodeState(UUID, STATE).toString();
  const code = (s: string, c: string, uuid = UUID) =>
    assert.throws(
      () => decodeState(uuid, Buffer.from(s)),
      (e) => e instanceof ReservationStateError && e.code === c,
    );
  code(text.replace('"version":1', '"version":2'), 'UNSUPPORTED_VERSION');
  code(text.replace('"version":1', '"version":0'), 'CORRUPT');
  code(text, 'WRONG_LU', 'another-uuid');
  const orphan = { ...STATE, registrations: STATE.registrations.slice(1) }; // holder not registered
  code(encodeState(UUID, orphan).toString(), 'CORRUPT');
  const twice = { ...STATE, registrations: [STATE.registrations[0]!, STATE.registrations[0]!] };
  code(encodeState(UUID, twice).toString(), 'CORRUPT');
  code('x'.repeat(5 * 1024 * 1024), 'CORRUPT');
});

test('FileReservationStore: atomic replace, no temporary files left, typed I/O errors', async () => {
  const dir = path.join(tmpDir('vdisk-pr-'), 'state');
  const store = new FileReservationStore(dir);
  assert.equal(await store.load(UUID), undefined);
  await store.save(UUID, STATE);
  await store.save(UUID, { ...STATE, generation: 6 });
  assert.equal((await store.load(UUID))?.generation, 6);
  assert.deepEqual(fs.readdirSync(dir), [`${UUID}.pr.json`]);
  assert.throws(() => store.pathOf('../escape'), ReservationStateError);
  const blocked = new FileReservationStore(path.join(dir, `${UUID}.pr.json`, 'sub'));
  await assert.rejects(
    blocked.save(UUID, STATE),
    (e) => e instanceof ReservationStateError && e.code === 'IO',
  );
  fs.writeFileSync(path.join(dir, `${UUID}.pr.json`), '{"format":"vdisk-pr","vers');
  await assert.rejects(store.load(UUID), (e) => e instanceof ReservationStateError && e.code === 'CORRUPT');
});

test('APTPL = 1: registrations, reservation and PRgeneration survive a restart', async () => {
  const store = new FileReservationStore(tmpDir('vdisk-pr-'));
  const [a, b] = [nx('a'), nx('b')];
  const f = await prFixture({ store });
  await settle(f, a, b);
  good(await register(f, a, 0xan, { aptpl: true }));
  good(await register(f, b, 0xbn, { aptpl: true }));
  good(await prout(f, a, SA.RESERVE, { key: 0xan, type: TYPE.WE_RO }));
  const before = await fullStatus(f, a);
  const g = await prFixture({ store }); // the target restarts: a new engine over the same store
  await settle(g, a, b);
  assert.deepEqual(await fullStatus(g, a), before);
  assert.equal((await reportCapabilities(g, a)).ptplA, true);
  const c = nx('c');
  await settle(g, c);
  conflict(await g.exec(c, write10, block));
  good(await g.exec(b, write10, block));
});

test('APTPL = 0: a restart clears the state, and the cleared state is what the file holds', async () => {
  const store = new FileReservationStore(tmpDir('vdisk-pr-'));
  const a = nx('a');
  const f = await prFixture({ store });
  await settle(f, a);
  good(await register(f, a, 0xan));
  good(await prout(f, a, SA.RESERVE, { key: 0xan, type: TYPE.EA }));
  assert.equal((await store.load(UUID))?.registrations.length, 1, 'committed before completion');
  const g = await prFixture({ store });
  await settle(g, a);
  assert.deepEqual(await readKeys(g, a), { generation: 0, keys: [], additionalLength: 0 });
  assert.equal((await readReservation(g, a)).reservation, undefined);
  assert.deepEqual((await store.load(UUID))?.registrations, []);
  // APTPL turned off again by the last REGISTER: not persistent any more.
  good(await register(g, a, 1n, { aptpl: true }));
  good(await register(g, a, 2n, { aptpl: false }));
  const h = await prFixture({ store });
  assert.deepEqual((await h.pr.snapshot()).registrations, []);
});

test('a corrupt state file makes start() reject with a typed error', async () => {
  const store = new MemoryReservationStore();
  store.files.set(UUID, Buffer.from('{"format":"vdisk-pr","version":1,"uuid":"'));
  await assert.rejects(
    prFixture({ store }),
    (e) => e instanceof ReservationStateError && e.code === 'CORRUPT',
  );
});

test('a failed save fails the command with INTERNAL TARGET FAILURE and changes nothing', async () => {
  const store = new MemoryReservationStore();
  const a = nx('a');
  const f = await prFixture({ store });
  await settle(f, a);
  good(await register(f, a, 1n));
  store.failSaves = true;
  sense(
    await prout(f, a, SA.REGISTER, { key: 1n, sark: 2n }),
    SenseKey.HARDWARE_ERROR,
    ASC.INTERNAL_TARGET_FAILURE,
  );
  store.failSaves = false;
  assert.deepEqual(await readKeys(f, a), { generation: 1, keys: [1n], additionalLength: 8 });
});

test('kill -9 during a stream of saves leaves a state file that loads, at or after the last acknowledged one', async () => {
  const dir = tmpDir('vdisk-pr-kill-');
  const modulePath = path.resolve('dist/src/scsi/reservations/index.js');
  const script = `
    const { FileReservationStore } = await import(${JSON.stringify(modulePath)});
    const store = new FileReservationStore(${JSON.stringify(dir)});
    const regs = [];
    for (let g = 1; ; g++) {
      regs.push({ key: BigInt(g), initiator: { format: 'port', name: 'iqn.k:' + g, isid: '000000000001' },
                  targetPort: 'iqn.t,t,0x0001', relativeTargetPortId: 1, allTgPt: false });
      await store.save(${JSON.stringify(UUID)}, { generation: g, aptpl: true, registrations: regs, reservation: undefined });
      process.stdout.write(g + '\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let acked = 0;
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: string) => {
      const lines = d.trim().split('\n');
      acked = Number(lines[lines.length - 1]);
      if (acked >= 40) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.on('exit', r));
  const state = await new FileReservationStore(dir).load(UUID);
  assert.ok(state, 'a state file exists');
  assert.ok(state.generation >= acked, `generation ${state.generation} after ${acked} acknowledged saves`);
  assert.equal(state.registrations.length, state.generation);
});
