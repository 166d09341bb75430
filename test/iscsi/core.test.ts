/**
 * The transport over the real SCSI core (LogicalUnit and ScsiTarget on a raw image): two
 * initiators on one LUN, each reading the other's writes through their own sessions; READ
 * CAPACITY and INQUIRY data reach the initiator in Data-In with the status collapsed; an
 * out-of-range read gets the core's sense data in a SCSI Response.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openImage } from '../../src/formats/index.js';
import { decodeDataIn, decodeScsiResponse, IscsiServer, OP } from '../../src/iscsi/index.js';
import { LogicalUnit, ScsiTarget } from '../../src/scsi/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { RawInitiator, TARGET } from './helpers.js';

test('two initiators on one LUN of the real core read each other’s writes', async () => {
  const dir = tmpDir('vdisk-iscsi-core-');
  const file = path.join(dir, 'disk.raw');
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 8 << 20);
  const image = await openImage(file, { format: 'raw' });
  const st = new ScsiTarget(TARGET);
  st.addLun(0, new LogicalUnit(image, { uuid: '6f1f3c2e-8a4b-4c1d-9e2f-0123456789ab' }));
  const server = new IscsiServer({ targets: [{ name: TARGET, router: st }] });
  const [p] = await server.listen([{ host: '127.0.0.1', port: 0 }]);
  after(async () => {
    await server.close(100);
    await image.close();
  });
  const a = await RawInitiator.connect(p!.port);
  await a.login([], { initiator: 'iqn.2026-11.io.vdisk.test:a' });
  const b = await RawInitiator.connect(p!.port);
  await b.login([], { initiator: 'iqn.2026-11.io.vdisk.test:b' });

  // Each session starts with POWER ON unit attention from the core: clear it with TUR.
  for (const c of [a, b]) {
    c.command([0, 0, 0, 0, 0, 0]);
    await c.expect(OP.SCSI_RESPONSE);
  }
  const write = async (c: RawInitiator, lba: number, fill: number): Promise<void> => {
    c.command([0x2a, 0, 0, 0, 0, lba, 0, 0, 8, 0], {
      write: true,
      edtl: 4096,
      data: Buffer.alloc(4096, fill),
    });
    assert.equal(decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs).status, 0);
  };
  const read = async (c: RawInitiator, lba: number): Promise<Buffer> => {
    c.command([0x28, 0, 0, 0, 0, lba, 0, 0, 8, 0], { read: true, edtl: 4096 });
    const r = await c.expect(OP.DATA_IN);
    const d = decodeDataIn(r.bhs);
    assert.ok(d.statusPresent && d.status === 0);
    return Buffer.from(r.data);
  };
  await write(a, 0, 0xaa);
  assert.deepEqual(await read(b, 0), Buffer.alloc(4096, 0xaa));
  await write(b, 8, 0xbb);
  assert.deepEqual(await read(a, 8), Buffer.alloc(4096, 0xbb));

  // READ CAPACITY (10): the last LBA and the block length in one collapsed Data-In.
  a.command([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], { read: true, edtl: 8 });
  const cap = await a.expect(OP.DATA_IN);
  assert.equal(cap.data.readUInt32BE(0), (8 << 20) / 512 - 1);
  assert.equal(cap.data.readUInt32BE(4), 512);
  // A read past the end: CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE, as sense data.
  a.command([0x28, 0, 0, 0x01, 0, 0, 0, 0, 1, 0], { read: true, edtl: 512 });
  const bad = await a.expect(OP.SCSI_RESPONSE);
  assert.equal(decodeScsiResponse(bad.bhs).status, 2);
  assert.equal(bad.data[2 + 2]! & 0x0f, 0x05);
  assert.equal(bad.data[2 + 12], 0x21);
});
