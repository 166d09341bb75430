/**
 * The copy manager's wire structures: EXTENDED COPY parameter list header, identification CSCD
 * descriptor, block to block segment descriptor, RECEIVE COPY RESULTS operating parameters and
 * copy status data, and the third-party copy VPD page. Golden bytes (the layouts of SPC-4 and the
 * bytes libiscsi's test tool builds) and round trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CopyManagerStatus,
  decodeCopyStatus,
  decodeCscdDescriptor,
  decodeOperatingParameters,
  decodeParameterListHeader,
  decodeSegmentDescriptor,
  decodeThirdPartyCopyPage,
  encodeBlockToBlockSegment,
  encodeCopyStatus,
  encodeIdentificationDescriptor,
  encodeOperatingParameters,
  encodeParameterListHeader,
  encodeThirdPartyCopyPage,
  ListIdUsage,
  type OperatingParameters,
} from '../../../src/scsi/xcopy/index.js';
import { transferCountOf } from '../../../src/scsi/xcopy/copy-status.js';

const NAA = Buffer.from('6a44560123456789abcdef0123456789', 'hex');

test('parameter list header: golden bytes (list 1, LIST ID USAGE 10b, 32 + 28 bytes) and round trip', () => {
  const h = {
    listId: 1,
    str: false,
    listIdUsage: ListIdUsage.STATUS_ONLY,
    priority: 0,
    cscdListLength: 32,
    segmentListLength: 28,
    inlineDataLength: 0,
  };
  const b = encodeParameterListHeader(h);
  assert.equal(b.toString('hex'), '01100020' + '00000000' + '0000001c' + '00000000');
  assert.deepEqual(decodeParameterListHeader(b), h);
  const all = { ...h, listId: 0xfe, str: true, listIdUsage: 3, priority: 5, inlineDataLength: 0x01020304 };
  assert.deepEqual(decodeParameterListHeader(encodeParameterListHeader(all)), all);
  assert.equal(encodeParameterListHeader(all)[1], 0x3d);
  assert.throws(() => decodeParameterListHeader(Buffer.alloc(15)));
});

test('identification CSCD descriptor (E4h): golden bytes and round trip, classification', () => {
  const d = {
    luIdType: 0,
    nul: false,
    deviceType: 0,
    relativeInitiatorPortId: 0,
    codeSet: 1,
    association: 0,
    designatorType: 3,
    designator: NAA,
    pad: false,
    diskBlockLength: 512,
  };
  const b = encodeIdentificationDescriptor(d);
  assert.equal(b.toString('hex'), 'e4000000' + '01030010' + NAA.toString('hex') + '00000000' + '00000200');
  assert.deepEqual(decodeCscdDescriptor(b), { kind: 'identification', ...d });
  const odd = { ...d, nul: true, relativeInitiatorPortId: 0x1234, pad: true, diskBlockLength: 4096 };
  assert.deepEqual(decodeCscdDescriptor(encodeIdentificationDescriptor(odd)), {
    kind: 'identification',
    ...odd,
  });

  const fc = Buffer.from(b);
  fc[0] = 0xe0;
  assert.deepEqual(decodeCscdDescriptor(fc), { kind: 'unsupported', typeCode: 0xe0 });
  // SPC-3's LU ID TYPE and NUL are obsolete in SPC-4: decoded, not refused.
  const luId = Buffer.from(b);
  luId[1] = 0xa0;
  assert.deepEqual(decodeCscdDescriptor(luId), { kind: 'identification', ...d, luIdType: 2, nul: true });
  const tape = Buffer.from(b);
  tape[1] = 0x01;
  assert.equal(decodeCscdDescriptor(tape).kind, 'invalid');
  const long = Buffer.from(b);
  long[7] = 21;
  assert.deepEqual(decodeCscdDescriptor(long), {
    kind: 'invalid',
    byte: 7,
    reason: 'DESIGNATOR LENGTH above 20',
  });
  assert.throws(() => decodeCscdDescriptor(b.subarray(0, 31)));
});

test('block to block segment descriptor (02h): golden bytes (libiscsi: 2048 blocks 0 -> end) and round trip', () => {
  const s = {
    dc: false,
    cat: false,
    source: 0,
    destination: 1,
    blocks: 2048,
    sourceLba: 0n,
    destinationLba: 0x1f800n,
  };
  const b = encodeBlockToBlockSegment(s);
  assert.equal(
    b.toString('hex'),
    '02000018' + '00000001' + '00000800' + '0000000000000000' + '000000000001f800',
  );
  assert.deepEqual(decodeSegmentDescriptor(b), { kind: 'block-to-block', ...s });
  const all = { ...s, dc: true, cat: true, source: 7, blocks: 0xffff, sourceLba: 0xfedcba9876543210n };
  assert.deepEqual(decodeSegmentDescriptor(encodeBlockToBlockSegment(all)), {
    kind: 'block-to-block',
    ...all,
  });
  // Stream to stream (03h) as libiscsi sends it: 20 bytes, DESCRIPTOR LENGTH 0010h.
  const s2s = Buffer.from('03000010' + '00000000' + '00'.repeat(12), 'hex');
  assert.deepEqual(decodeSegmentDescriptor(s2s), { kind: 'unsupported', typeCode: 3 });
  const wrongLength = Buffer.concat([Buffer.from('02000014', 'hex'), Buffer.alloc(20)]);
  assert.equal(decodeSegmentDescriptor(wrongLength).kind, 'invalid');
  assert.throws(() => decodeSegmentDescriptor(b.subarray(0, 27)));
});

test('OPERATING PARAMETERS: golden bytes and round trip', () => {
  const p: OperatingParameters = {
    snlid: true,
    maxCscdDescriptorCount: 32,
    maxSegmentDescriptorCount: 32,
    maxDescriptorListLength: 1920,
    maxSegmentLength: 0xffff * 512,
    maxInlineDataLength: 0,
    heldDataLimit: 0,
    maxStreamDeviceTransferSize: 0,
    totalConcurrentCopies: 64,
    maxConcurrentCopies: 64,
    dataSegmentGranularity: 9,
    inlineDataGranularity: 9,
    heldDataGranularity: 9,
    implementedDescriptorTypeCodes: [0x02, 0xe4],
  };
  const b = encodeOperatingParameters(p);
  assert.equal(
    b.toString('hex'),
    '0000002a' +
      '01000000' +
      '00200020' +
      '00000780' +
      '01fffe00' +
      '00000000' +
      '00000000' +
      '00000000' +
      '00000040' +
      '40090909' +
      '00000002' +
      '02e4',
  );
  assert.deepEqual(decodeOperatingParameters(b), p);
  assert.throws(() => decodeOperatingParameters(b.subarray(0, 43)));
  assert.throws(() => decodeOperatingParameters(b.subarray(0, 45)));
});

test('COPY STATUS: golden bytes, round trip and transfer count units', () => {
  const s = {
    hdd: false,
    status: CopyManagerStatus.COMPLETED_WITHOUT_ERRORS,
    segmentsProcessed: 1,
    transferCountUnits: 0,
    transferCount: 1048576,
  };
  const b = encodeCopyStatus(s);
  assert.equal(b.toString('hex'), '00000008' + '01000100' + '00100000');
  assert.deepEqual(decodeCopyStatus(b), s);
  const e = { ...s, hdd: true, status: CopyManagerStatus.COMPLETED_WITH_ERRORS, segmentsProcessed: 513 };
  assert.deepEqual(decodeCopyStatus(encodeCopyStatus(e)), e);
  assert.deepEqual(transferCountOf(4096), { transferCountUnits: 0, transferCount: 4096 });
  assert.deepEqual(transferCountOf(2 ** 33), { transferCountUnits: 1, transferCount: 2 ** 23 });
  assert.deepEqual(transferCountOf(2 ** 43), { transferCountUnits: 2, transferCount: 2 ** 23 });
  assert.throws(() => decodeCopyStatus(Buffer.alloc(11)));
});

test('third-party copy VPD page (8Fh): golden bytes, padding and round trip', () => {
  const page = encodeThirdPartyCopyPage(0, [
    {
      kind: 'supported-commands',
      commands: [
        { opcode: 0x83, serviceActions: [0x00] },
        { opcode: 0x84, serviceActions: [0x00, 0x03] },
      ],
    },
    {
      kind: 'parameter-data',
      maxCscdDescriptorCount: 32,
      maxSegmentDescriptorCount: 32,
      maxDescriptorListLength: 1920,
      maxInlineDataLength: 0,
    },
    { kind: 'supported-descriptors', typeCodes: [0x02, 0xe4] },
    { kind: 'supported-cscd-ids', ids: [] },
    {
      kind: 'general-copy-operations',
      totalConcurrentCopies: 64,
      maxIdentifiedConcurrentCopies: 64,
      maxSegmentLength: 0xffff * 512,
      dataSegmentGranularity: 9,
      inlineDataGranularity: 9,
    },
  ]);
  const expected =
    '008f0060' +
    // Supported Commands: list length 7 + 1 -> 8 bytes, no pad.
    '00010008' +
    '07830100' +
    '84020003' +
    // Parameter Data, length 1Ch.
    '0004001c' +
    '00000000' +
    '00200020' +
    '00000780' +
    '00000000' +
    '00'.repeat(12) +
    // Supported Descriptors: 1 + 2 -> padded to 4.
    '00080004' +
    '0202e400' +
    // Supported CSCD Descriptor IDs: empty list, padded to 4.
    '000c0004' +
    '00000000' +
    // General Copy Operations, length 20h.
    '80010020' +
    '00000040' +
    '00000040' +
    '01fffe00' +
    '0909' +
    '00'.repeat(18);
  assert.equal(page.toString('hex'), expected);
  const d = decodeThirdPartyCopyPage(page);
  assert.equal(d.peripheral, 0);
  assert.deepEqual(d.descriptors[0], {
    kind: 'supported-commands',
    commands: [
      { opcode: 0x83, serviceActions: [0] },
      { opcode: 0x84, serviceActions: [0, 3] },
    ],
  });
  assert.deepEqual(d.descriptors[2], { kind: 'supported-descriptors', typeCodes: [2, 0xe4] });
  assert.deepEqual(d.descriptors[3], { kind: 'supported-cscd-ids', ids: [] });
  assert.ok(encodeThirdPartyCopyPage(0, d.descriptors).equals(page), 'round trip');
  // An unknown descriptor type survives a round trip.
  const raw = encodeThirdPartyCopyPage(0, [{ kind: 'raw', type: 0x0106, body: Buffer.from([1, 2, 3, 4]) }]);
  assert.ok(encodeThirdPartyCopyPage(0, decodeThirdPartyCopyPage(raw).descriptors).equals(raw));
  assert.throws(() => decodeThirdPartyCopyPage(page.subarray(0, page.length - 1)));
});
