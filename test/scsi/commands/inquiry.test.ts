/** INQUIRY VPD pages as the LU options and device capabilities decide them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBlockDeviceCharacteristics } from '../../../src/scsi/vpd/block-device-characteristics.js';
import { decodeBlockLimits } from '../../../src/scsi/vpd/block-limits.js';
import { decodeDeviceIdentification } from '../../../src/scsi/vpd/device-identification.js';
import { decodeExtendedInquiry } from '../../../src/scsi/vpd/extended-inquiry.js';
import { decodeLogicalBlockProvisioning } from '../../../src/scsi/vpd/logical-block-provisioning.js';
import { MAX_TRANSFER_BYTES } from '../../../src/scsi/index.js';
import { fixture, good, nexus, ready, run, TARGET, UUID } from '../helpers.js';
import { ScsiTarget } from '../../../src/scsi/index.js';

const vpd = async (t: ScsiTarget, page: number, n = nexus(1)) => {
  const r = await run(t, [0x12, 1, page, 0x01, 0x00, 0], { nexus: n });
  good(r);
  return r.dataIn!;
};

test('VPD 83h: NAA, T10 vendor ID, target port, relative port, port group, target device', async () => {
  const f = await ready();
  const ds = decodeDeviceIdentification(await vpd(f.target, 0x83));
  assert.deepEqual(
    ds.map((d) => [d.association, d.type, d.codeSet, d.piv, d.protocolId]),
    [
      [0, 3, 1, false, 0],
      [0, 1, 2, false, 0],
      [1, 8, 3, true, 5],
      [1, 4, 1, true, 5],
      [1, 5, 1, true, 5],
      [2, 8, 3, true, 5],
    ],
  );
  assert.deepEqual(ds[0]!.value, f.lu.identity.naa);
  assert.equal(ds[1]!.value.toString('latin1'), 'VDISK   ' + UUID.replace(/-/g, ''));
  assert.equal(ds[2]!.value.toString('utf8').replace(/\0+$/, ''), `${TARGET},t,0x0001`);
  assert.equal(ds[3]!.value.readUInt16BE(2), 1);
  assert.equal(ds[5]!.value.toString('utf8').replace(/\0+$/, ''), TARGET);
});

test('the same LU through two targets has the same NAA and serial, with each target port', async () => {
  const f = fixture();
  const t2 = new ScsiTarget('iqn.2026-11.io.vdisk:other');
  t2.addLun(3, f.lu);
  const n2 = nexus(1, 'iqn.2026-11.io.vdisk:other');
  const a = decodeDeviceIdentification(await vpd(f.target, 0x83));
  const b = decodeDeviceIdentification(
    (await run(t2, [0x12, 1, 0x83, 1, 0, 0], { nexus: n2, lun: 3 })).dataIn!,
  );
  assert.deepEqual(a[0], b[0]);
  assert.deepEqual(a[1], b[1]);
  assert.notDeepEqual(a[2], b[2]);
  assert.deepEqual(
    (await vpd(f.target, 0x80)).subarray(4),
    (await run(t2, [0x12, 1, 0x80, 1, 0, 0], { nexus: n2, lun: 3 })).dataIn!.subarray(4),
  );
});

test('VPD B0h, B1h, B2h and 86h follow the options', async () => {
  const f = await ready({ ssd: true, discard: 'on' });
  const bl = decodeBlockLimits(await vpd(f.target, 0xb0));
  assert.equal(bl.maxTransferLength, MAX_TRANSFER_BYTES / 512);
  assert.equal(bl.optimalTransferLengthGranularity, 8);
  assert.equal(bl.maxUnmapLbaCount, 0xffffffff);
  assert.equal(bl.maxUnmapBlockDescriptorCount, 4095);
  assert.equal(bl.unmapGranularityAlignment, 0);
  assert.equal(decodeBlockDeviceCharacteristics(await vpd(f.target, 0xb1)).mediumRotationRate, 1);
  assert.deepEqual(decodeLogicalBlockProvisioning(await vpd(f.target, 0xb2)), {
    thresholdExponent: 0,
    lbpu: true,
    lbpws: true,
    lbpws10: true,
    lbprz: true,
    ancSup: false,
    provisioningType: 2,
  });
  const ext = decodeExtendedInquiry(await vpd(f.target, 0x86));
  assert.equal(ext.headSup && ext.ordSup && ext.simpSup && ext.vSup && ext.luiclr, true);
  const plain = await ready();
  const bl2 = decodeBlockLimits(await vpd(plain.target, 0xb0));
  assert.equal(bl2.maxUnmapLbaCount, 0);
  assert.equal(bl2.maxUnmapBlockDescriptorCount, 0);
  assert.equal(decodeBlockDeviceCharacteristics(await vpd(plain.target, 0xb1)).mediumRotationRate, 0);
});
