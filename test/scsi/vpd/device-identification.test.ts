/** Device Identification VPD page (SPC-4 §7.8.6): golden bytes for each designator we serve. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Association,
  CodeSet,
  decodeDeviceIdentification,
  DesignatorType,
  encodeDeviceIdentification,
  scsiNameString,
  u16Designator,
} from '../../../src/scsi/vpd/device-identification.js';

test('SCSI name string: UTF-8, null terminated, padded to 4', () => {
  assert.equal(scsiNameString('iqn.x').toString('hex'), '69716e2e78000000');
  assert.equal(scsiNameString('iqn').length, 4);
  assert.equal(scsiNameString('iqn.').length, 8);
});

test('NAA, relative port and target port name designators (golden) and round trip', () => {
  const naa = Buffer.from('65a44560123456789abcdef012345678', 'hex');
  const ds = [
    {
      protocolId: 0,
      codeSet: CodeSet.BINARY,
      piv: false,
      association: Association.LOGICAL_UNIT,
      type: DesignatorType.NAA,
      value: naa,
    },
    {
      protocolId: 5,
      codeSet: CodeSet.BINARY,
      piv: true,
      association: Association.TARGET_PORT,
      type: DesignatorType.RELATIVE_TARGET_PORT,
      value: u16Designator(1),
    },
    {
      protocolId: 5,
      codeSet: CodeSet.UTF8,
      piv: true,
      association: Association.TARGET_DEVICE,
      type: DesignatorType.SCSI_NAME_STRING,
      value: scsiNameString('iqn.x'),
    },
  ];
  const b = encodeDeviceIdentification(0, ds);
  assert.equal(
    b.toString('hex'),
    '00830028' + '01030010' + naa.toString('hex') + '51940004' + '00000001' + '53a80008' + '69716e2e78000000',
  );
  assert.deepEqual(decodeDeviceIdentification(b), ds);
});

test('a designator running past the page is refused', () => {
  assert.throws(() => decodeDeviceIdentification(Buffer.from('008300060103001000', 'hex')), /truncated/);
});
