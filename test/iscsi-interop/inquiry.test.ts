/**
 * Discovery and identity through libiscsi's tools against `vdisk iscsi serve`:
 *
 * - iscsi-ls: SendTargets discovery lists the target on each portal, and its LUNs as direct-
 *   access disks of the right size;
 * - iscsi-inq: standard INQUIRY fields, VPD pages 0x80, 0x83, 0xB0, 0xB1 and 0xB2 as the LUN's
 *   options say (ssd=1 gives rotation rate 1; discard=on gives thin provisioning with LBPRZ);
 *   iscsi-readcapacity16 agrees;
 * - identity: the unit serial number and the LU designators of VPD 0x83 are the same after a
 *   restart and through a second portal, and libiscsi's own multipath check (iscsi-test-cu,
 *   which compares the NAA designators byte for byte) finds one LU behind two portals and behind
 *   two targets of one --config that share the image.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { qemuImgOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, inquiryFields, run, serveVdiskIscsi, skipWithoutIscsiPeers } from '../helpers/iscsi.js';
import { freePort, startVdiskIscsi, type IscsiTarget } from '../helpers/iscsi-targets.js';

const MiB = 1024 * 1024;
const skip = await skipWithoutIscsiPeers([
  'iscsi-inq',
  'iscsi-ls',
  'iscsi-readcapacity16',
  'iscsi-test-cu',
  'qemu-img',
]);

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, 60_000);
  assert.equal(r.status, 0, describeRun(r));
  return r.stdout;
}

/** The lines of VPD page 0x83 that describe the logical unit (association 0). */
function luDesignators(page83: string): string[] {
  return page83
    .split(/DEVICE DESIGNATOR #\d+\n/)
    .slice(1)
    .filter((d) => d.includes('Association:(0) LOGICAL_UNIT'));
}

describe('iscsi-ls and iscsi-inq against vdisk', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-inq-');
  const raw = path.join(dir, 'disk.raw');
  const qcow2 = path.join(dir, 'disk.qcow2');
  qemuImgOk(['create', '-q', '-f', 'raw', raw, '64M']);
  qemuImgOk(['create', '-q', '-f', 'qcow2', qcow2, '32M']);
  const iqn = 'iqn.2026-11.org.vdisk.test:inquiry';
  const luns = [
    { file: raw, format: 'raw' as const, options: ['discard=on', 'ssd=1'] },
    { file: qcow2, format: 'qcow2' as const },
  ];
  const target = await serveVdiskIscsi({ iqn, luns, portals: 2 });

  test('vdisk prints one URL per LUN', () => {
    assert.deepEqual(target.printedUrls().sort(), [target.url(0), target.url(1)].sort());
  });

  test('iscsi-ls discovers the target on both portals, with its LUNs and their sizes', async () => {
    const out = await ok('iscsi-ls', ['-s', `iscsi://${target.host}:${target.ports[0]}`]);
    for (const port of target.ports)
      assert.match(out, new RegExp(`Target:${iqn} Portal:127\\.0\\.0\\.1:${port},\\d+`));
    assert.match(out, /Lun:0\s+Type:DIRECT_ACCESS \(Size:6[34]M\)/);
    assert.match(out, /Lun:1\s+Type:DIRECT_ACCESS \(Size:3[12]M\)/);
  });

  test('standard INQUIRY: a connected direct-access disk, SPC-4, command queueing, not removable', async () => {
    const f = inquiryFields(await ok('iscsi-inq', [target.url(0)]));
    assert.equal(f.get('Peripheral Qualifier'), 'CONNECTED');
    assert.equal(f.get('Peripheral Device Type'), 'DIRECT_ACCESS');
    assert.equal(f.get('Removable'), '0');
    assert.equal(f.get('CmdQue'), '1');
    assert.equal(f.get('HiSup'), '1');
    assert.equal(f.get('ReponseDataFormat'), '2');
    assert.match(f.get('Version') ?? '', /^6\b/, 'SPC-4');
    assert.match(f.get('Vendor') ?? '', /\S/);
    assert.match(f.get('Product') ?? '', /\S/);
  });

  test('VPD pages: the supported list, serial, block limits, SSD rotation rate, thin provisioning', async () => {
    const list = await ok('iscsi-inq', ['-e', '1', '-c', '0', target.url(0)]);
    for (const page of ['0x00', '0x80', '0x83', '0x86', '0xb0', '0xb1', '0xb2'])
      assert.match(list, new RegExp(`Page:${page}`));
    const serial = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '128', target.url(0)]));
    assert.match(serial.get('Unit Serial Number') ?? '', /^\[\S+\]$/);
    const limits = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '176', target.url(0)]));
    assert.ok(Number(limits.get('maximum transfer length')) > 0, 'maximum transfer length');
    assert.ok(Number(limits.get('maximum unmap lba count')) > 0, 'UNMAP limits with discard=on');
    assert.ok(Number(limits.get('maximum unmap block descriptor count')) > 0);
    assert.equal(limits.get('ugavalid'), '1');
    const bdc = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '177', target.url(0)]));
    assert.equal(bdc.get('Medium Rotation Rate'), '1RPM', 'ssd=1: non-rotating medium');
    const lbp = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '178', target.url(0)]));
    assert.equal(lbp.get('lbpu'), '1');
    assert.equal(lbp.get('lbpws'), '1');
    assert.equal(lbp.get('lbpws10'), '1');
    assert.equal(lbp.get('lbprz'), '1');
    assert.equal(lbp.get('provisioning type'), '2', 'thin provisioned');
    const rc = inquiryFields(await ok('iscsi-readcapacity16', [target.url(0)]));
    assert.equal(rc.get('Total size'), String(64 * MiB));
    assert.equal(rc.get('LOGICAL BLOCK LENGTH IN BYTES'), '512');
    assert.match(rc.get('LBPME') ?? '', /^1\b/);
    // LUN 1 has neither option: a rotating-medium answer is not claimed, nor thin provisioning.
    const lbp1 = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '178', target.url(1)]));
    assert.equal(lbp1.get('lbpu'), '0');
    const rc1 = inquiryFields(await ok('iscsi-readcapacity16', [target.url(1)]));
    assert.equal(rc1.get('Total size'), String(32 * MiB));
  });

  test('VPD 0x83: the LU has an NAA-6 and a T10 vendor designator; the target port its name', async () => {
    const page = await ok('iscsi-inq', ['-e', '1', '-c', '131', target.url(0)]);
    const lu = luDesignators(page);
    const naa = lu.find((d) => d.includes('Designator Type:(3) NAA'));
    assert.ok(naa, page);
    // NAA type 6 (IEEE registered extended): the first designator byte's high nibble.
    const first = /Designator:\[(.)/s.exec(naa)?.[1];
    assert.equal(first && first.charCodeAt(0) >> 4, 6, `NAA designator: ${naa}`);
    const serial = inquiryFields(await ok('iscsi-inq', ['-e', '1', '-c', '128', target.url(0)])).get(
      'Unit Serial Number',
    );
    const t10 = lu.find((d) => d.includes('Designator Type:(1) T10_VENDORT_ID'));
    assert.ok(t10?.includes(serial!.slice(1, -1)), `T10 vendor designator carries the serial: ${t10}`);
    assert.match(
      page,
      new RegExp(
        `Association:\\(1\\) TARGET_PORT\\nDesignator Type:\\(8\\) SCSI_NAME_STRING\\nDesignator:\\[${iqn},t,0x`,
      ),
    );
    assert.match(page, /Designator Type:\(4\) RELATIVE_TARGET_PORT/);
    assert.match(page, /Designator Type:\(5\) TARGET_PORT_GROUP/);
  });

  test('one LU behind two portals: same designators, and libiscsi finds the same LU on both paths', async () => {
    const a = await ok('iscsi-inq', ['-e', '1', '-c', '131', target.url(0, 0)]);
    const b = await ok('iscsi-inq', ['-e', '1', '-c', '131', target.url(0, 1)]);
    assert.deepEqual(luDesignators(b), luDesignators(a));
    const mp = await run(
      'iscsi-test-cu',
      ['-t', 'ALL.TestUnitReady', target.url(0, 0), target.url(0, 1)],
      60_000,
    );
    assert.match(mp.stdout, /found matching LU device identifier for all \(2\) paths/, describeRun(mp));
    // Two different LUs are two different identities.
    const other = await ok('iscsi-inq', ['-e', '1', '-c', '131', target.url(1)]);
    assert.notDeepEqual(luDesignators(other), luDesignators(a));
  });
});

describe('LU identity across restarts and targets', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-identity-');
  const image = path.join(dir, 'shared.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', image, '16M']);
  const luns = [{ file: image, format: 'qcow2' as const }];
  const identity = async (t: IscsiTarget, lun = 0): Promise<{ serial: string; lu: string[] }> => ({
    serial: (await ok('iscsi-inq', ['-e', '1', '-c', '128', t.url(lun)])).trim(),
    lu: luDesignators(await ok('iscsi-inq', ['-e', '1', '-c', '131', t.url(lun)])),
  });

  test('the serial and the LU designators survive a restart of the server', async () => {
    const first = await startVdiskIscsi({ luns, iqn: 'iqn.2026-11.org.vdisk.test:restart' });
    let before;
    try {
      before = await identity(first);
    } finally {
      await first.stop();
    }
    const second = await startVdiskIscsi({
      luns,
      iqn: 'iqn.2026-11.org.vdisk.test:restart',
      ports: first.ports,
    });
    try {
      assert.deepEqual(await identity(second), before);
    } finally {
      await second.stop();
    }
  });

  test('two targets of one --config sharing the image expose one LU (libiscsi multipath check)', async () => {
    const port = await freePort();
    const config = path.join(dir, 'targets.json');
    const names = ['iqn.2026-11.org.vdisk.test:node-a', 'iqn.2026-11.org.vdisk.test:node-b'];
    fs.writeFileSync(
      config,
      JSON.stringify({
        portals: [`127.0.0.1:${port}`],
        targets: names.map((name) => ({ name, luns: [{ lun: 0, image, format: 'qcow2' }] })),
      }),
    );
    const t = await serveVdiskIscsi({ luns: [], config: { file: config, ports: [port], urls: 2 } });
    const urls = names.map((n) => `iscsi://127.0.0.1:${port}/${n}/0`);
    const [a, b] = [
      await ok('iscsi-inq', ['-e', '1', '-c', '131', urls[0]!]),
      await ok('iscsi-inq', ['-e', '1', '-c', '131', urls[1]!]),
    ];
    assert.deepEqual(luDesignators(b), luDesignators(a));
    const mp = await run('iscsi-test-cu', ['-t', 'ALL.TestUnitReady', ...urls], 60_000);
    assert.match(mp.stdout, /found matching LU device identifier for all \(2\) paths/, describeRun(mp));
    assert.ok(t.output().includes(urls[0]!), 'the server printed the URLs of --config targets');
  });
});
