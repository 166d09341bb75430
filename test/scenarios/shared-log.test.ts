/**
 * Scenario (issue 6): a shared log. Three writers on three I_T nexuses append records to one
 * logical unit, using COMPARE AND WRITE on a header block as both the lock and the tail pointer,
 * the way cluster software does with a SCSI disk and no other coordination:
 *
 *   header (LBA 0): "VDLOG001" | OWNER (u32, 0 = unlocked) | TAIL (u32, records so far)
 *   record i (LBA 1 + i): "REC!" | WRITER | SEQUENCE | a payload derived from both
 *
 * To append, a writer reads the header; if it is unlocked it tries COMPARE AND WRITE (header as read
 * -> OWNER = itself), retrying on MISCOMPARE; holding the lock it WRITEs (FUA) its record at the
 * tail, then releases with COMPARE AND WRITE (its locked header -> OWNER 0, TAIL + 1), which must
 * succeed. If COMPARE AND WRITE were not atomic across nexuses, two writers would hold the lock at
 * once and overwrite each other's slot, and records would be lost or duplicated. At the end every
 * record of every writer is in the log exactly once, and TAIL counts them.
 *
 * The same writers run twice: through the SCSI core (three nexuses of one ScsiTarget), and as three
 * real iSCSI sessions (raw initiators, three InitiatorNames) against an IscsiServer over the core.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { MemoryDevice } from '../../src/block/index.js';
import { encodeCompareAndWriteCdb } from '../../src/scsi/caw/index.js';
import { LogicalUnit, ScsiStatus, ScsiTarget, SenseKey, decodeSense } from '../../src/scsi/index.js';
import { exec, rw16 } from '../scsi/caw/harness.js';
import { clearUa, nexus } from '../scsi/helpers.js';
import { RawInitiator, serveIscsi, TARGET } from '../iscsi/helpers.js';

const BS = 512;
const MAGIC = Buffer.from('VDLOG001');
const WRITERS = 3;

interface Reply {
  status: number;
  data: Buffer;
  sense?: Buffer;
}

/** One writer's way to the disk: a CDB with optional Data-Out, and the Data-In length. */
type Scsi = (cdb: Buffer, o?: { data?: Buffer; read?: number }) => Promise<Reply>;

function header(owner: number, tail: number): Buffer {
  const b = Buffer.alloc(BS);
  MAGIC.copy(b, 0);
  b.writeUInt32BE(owner, 8);
  b.writeUInt32BE(tail, 12);
  return b;
}

function record(writer: number, seq: number): Buffer {
  const b = Buffer.alloc(BS);
  b.write('REC!', 0, 'latin1');
  b.writeUInt32BE(writer, 4);
  b.writeUInt32BE(seq, 8);
  createHash('sha256').update(`${writer}/${seq}`).digest().copy(b, 12);
  return b;
}

interface Stats {
  /** COMPARE AND WRITEs that lost the race for the lock. */
  miscompares: number;
  /** Header reads that found the lock held by another writer. */
  busy: number;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function append(scsi: Scsi, writer: number, seq: number, stats: Stats): Promise<void> {
  for (;;) {
    const h = await scsi(rw16(0x88, 0, 1), { read: BS });
    assert.equal(h.status, ScsiStatus.GOOD);
    assert.ok(h.data.subarray(0, 8).equals(MAGIC), 'log header');
    const owner = h.data.readUInt32BE(8);
    const tail = h.data.readUInt32BE(12);
    if (owner !== 0) {
      stats.busy++;
      await tick();
      continue;
    }
    const lock = encodeCompareAndWriteCdb({ lba: 0, blocks: 1, dpo: false, fua: true, group: 0 });
    const got = await scsi(lock, { data: Buffer.concat([h.data, header(writer, tail)]) });
    if (got.status !== ScsiStatus.GOOD) {
      assert.equal(got.status, ScsiStatus.CHECK_CONDITION);
      assert.equal(decodeSense(got.sense!).key, SenseKey.MISCOMPARE);
      stats.miscompares++;
      await tick();
      continue;
    }
    const w = await scsi(rw16(0x8a, 1 + tail, 1), { data: record(writer, seq) });
    assert.equal(w.status, ScsiStatus.GOOD);
    const unlock = await scsi(lock, { data: Buffer.concat([header(writer, tail), header(0, tail + 1)]) });
    assert.equal(unlock.status, ScsiStatus.GOOD, 'the lock holder releases it');
    return;
  }
}

async function runLog(writers: Scsi[], perWriter: number, check: Scsi): Promise<Stats> {
  const init = await check(rw16(0x8a, 0, 1), { data: header(0, 0) });
  assert.equal(init.status, ScsiStatus.GOOD);
  const stats: Stats = { miscompares: 0, busy: 0 };
  await Promise.all(
    writers.map(async (scsi, i) => {
      for (let seq = 0; seq < perWriter; seq++) await append(scsi, i + 1, seq, stats);
    }),
  );
  const total = writers.length * perWriter;
  const h = await check(rw16(0x88, 0, 1), { read: BS });
  assert.deepEqual([h.data.readUInt32BE(8), h.data.readUInt32BE(12)], [0, total], 'unlocked, TAIL = records');
  const log = await check(rw16(0x88, 1, total), { read: total * BS });
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) {
    const r = log.data.subarray(i * BS, (i + 1) * BS);
    const writer = r.readUInt32BE(4);
    const seq = r.readUInt32BE(8);
    assert.ok(r.equals(record(writer, seq)), `slot ${i} holds an intact record`);
    const key = `${writer}/${seq}`;
    assert.ok(!seen.has(key), `${key} appears once`);
    seen.add(key);
  }
  for (let w = 1; w <= writers.length; w++)
    for (let s = 0; s < perWriter; s++) assert.ok(seen.has(`${w}/${s}`), `${w}/${s} is in the log`);
  // Each writer's records are in its own order.
  for (let w = 1; w <= writers.length; w++) {
    const order = [...seen].filter((k) => k.startsWith(`${w}/`)).map((k) => Number(k.split('/')[1]));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
  }
  return stats;
}

test('shared log through the SCSI core: three nexuses x 60 records, none lost or doubled', async (t) => {
  const lu = new LogicalUnit(new MemoryDevice(4 * 1024 * 1024), { uuid: randomUUID() });
  const target = new ScsiTarget('iqn.2026-11.io.vdisk:shared-log');
  target.addLun(0, lu);
  const f = { target };
  const nexuses = Array.from({ length: WRITERS }, (_, i) => nexus(0x700 + i));
  for (const n of nexuses) await clearUa(target, n);
  const via =
    (n: ReturnType<typeof nexus>): Scsi =>
    async (cdb, o = {}) => {
      const r = await exec(f, cdb, { nexus: n, ...(o.data ? { dataOut: o.data } : {}) });
      return { status: r.status, data: r.dataIn ?? Buffer.alloc(0), ...(r.sense ? { sense: r.sense } : {}) };
    };
  const stats = await runLog(nexuses.map(via), 60, via(nexuses[0]!));
  t.diagnostic(
    `180 records: ${stats.miscompares} lost COMPARE AND WRITE races, ${stats.busy} waits for the lock`,
  );
  assert.ok(stats.miscompares + stats.busy > 0, 'the writers really contended for the lock');
});

/** Runs one command on a raw initiator session and collects its Data-In, status and sense. */
function iscsiScsi(ini: RawInitiator): Scsi {
  return async (cdb, o = {}) => {
    const itt = ini.command([...cdb], {
      ...(o.data ? { data: o.data, write: true, edtl: o.data.length } : {}),
      ...(o.read ? { read: true, edtl: o.read } : {}),
    });
    const parts: Buffer[] = [];
    for (;;) {
      const p = await ini.next(10000);
      assert.ok(p && p.kind === 'pdu', 'connection ended');
      if (p.bhs.readUInt32BE(16) !== itt) continue;
      const op = p.bhs[0]! & 0x3f;
      if (op === 0x25) {
        parts.push(p.data);
        if (p.bhs[1]! & 0x01) return { status: p.bhs[3]!, data: Buffer.concat(parts) };
      } else if (op === 0x21) {
        // SCSI Response: sense data is SENSE LENGTH (2 bytes) then the sense bytes.
        const sense = p.data.length >= 2 ? p.data.subarray(2, 2 + p.data.readUInt16BE(0)) : undefined;
        return { status: p.bhs[3]!, data: Buffer.concat(parts), ...(sense?.length ? { sense } : {}) };
      }
    }
  };
}

test('shared log over iSCSI: three sessions from three initiators x 25 records', async (t) => {
  const lu = new LogicalUnit(new MemoryDevice(4 * 1024 * 1024), { uuid: randomUUID() });
  const target = new ScsiTarget(TARGET);
  target.addLun(0, lu);
  const served = await serveIscsi({ router: target as never });
  const sessions: RawInitiator[] = [];
  for (let i = 0; i < WRITERS; i++) {
    const ini = await RawInitiator.connect(served.port);
    await ini.login([], {
      initiator: `iqn.2026-11.io.vdisk:log-writer-${i + 1}`,
      isid: 0x400001390000 + i,
    });
    for (let k = 0; k < 5; k++) if ((await iscsiScsi(ini)(Buffer.alloc(6))).status === ScsiStatus.GOOD) break;
    sessions.push(ini);
  }
  const stats = await runLog(sessions.map(iscsiScsi), 25, iscsiScsi(sessions[0]!));
  t.diagnostic(`75 records over iSCSI: ${stats.miscompares} lost races, ${stats.busy} waits for the lock`);
  assert.ok(stats.miscompares + stats.busy > 0, 'the sessions really contended for the lock');
  for (const s of sessions) s.socket.destroy();
});
