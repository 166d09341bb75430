/**
 * Golden bytes and round trips for every PDU codec, the AHS, the text data segment, LUNs and
 * CRC32C. Golden bytes: the SCSI Command PDU and the CRC vectors are RFC 3720 Appendix B.4's
 * (a READ(10) command as an initiator sends it); the other headers are laid out byte by byte
 * from RFC 7143 §11's figures, field by field, independently of the encoders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAhsList,
  decodeAsyncMessage,
  decodeDataIn,
  decodeDataOut,
  decodeLoginRequest,
  decodeLoginResponse,
  decodeLogoutRequest,
  decodeLogoutResponse,
  decodeNopIn,
  decodeNopOut,
  decodeR2t,
  decodeReject,
  decodeScsiCommand,
  decodeScsiResponse,
  decodeSnack,
  decodeTaskMgmtRequest,
  decodeTaskMgmtResponse,
  decodeTextPairs,
  decodeTextRequest,
  decodeTextResponse,
  decodeLun,
  encodeAhs,
  encodeAsyncMessage,
  encodeDataIn,
  encodeDataOut,
  encodeLoginRequest,
  encodeLoginResponse,
  encodeLogoutRequest,
  encodeLogoutResponse,
  encodeLun,
  encodeNopIn,
  encodeNopOut,
  encodeR2t,
  encodeReject,
  encodeScsiCommand,
  encodeScsiResponse,
  encodeSnack,
  encodeTaskMgmtRequest,
  encodeTaskMgmtResponse,
  encodeTextPairs,
  encodeTextRequest,
  encodeTextResponse,
  extendedCdb,
  formatBinary,
  NO_SUCH_LUN,
  parseBinary,
  parseNumber,
  senseDataSegment,
  TextFormatError,
} from '../../src/iscsi/index.js';
import { crc32c } from '../../src/util/index.js';

/** Hex with spaces and newlines allowed. */
const hex = (...parts: string[]): Buffer => Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');

/** Round trip: decode(golden) -> fields; encode(fields) -> golden; decode(encode(x)) -> x. */
function golden<T>(
  name: string,
  bytes: Buffer,
  decode: (b: Buffer) => T,
  encode: (x: T) => Buffer,
  fields: Partial<T>,
): void {
  test(`${name}: golden bytes and round trip`, () => {
    assert.equal(bytes.length, 48);
    const d = decode(bytes);
    for (const [k, v] of Object.entries(fields))
      assert.deepEqual((d as Record<string, unknown>)[k], v, `${name}.${k}`);
    assert.deepEqual(encode(d), bytes);
    assert.deepEqual(decode(encode(d)), d);
  });
}

// RFC 3720 B.4 "iSCSI - Read (10) Command PDU".
const READ10 = hex(
  '01 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
  '14 00 00 00 00 00 04 00 00 00 00 14 00 00 00 18',
  '28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00',
);

golden('SCSI Command', READ10, decodeScsiCommand, (x) => encodeScsiCommand(x), {
  immediate: false,
  final: true,
  read: true,
  write: false,
  attr: 0,
  itt: 0x14000000,
  expectedDataTransferLength: 1024,
  cmdSN: 0x14,
  expStatSN: 0x18,
});

golden(
  'SCSI Response',
  hex(
    '21 86 00 02 00 00 00 14 00 00 00 00 00 00 00 00',
    '00 00 00 07 00 00 00 00 00 00 00 2a 00 00 00 10',
    '00 00 00 4f 00 00 00 03 00 00 00 00 00 00 02 00',
  ),
  decodeScsiResponse,
  (x) => encodeScsiResponse(x),
  {
    overflow: true,
    underflow: true,
    status: 2,
    dataSegmentLength: 20,
    itt: 7,
    statSN: 42,
    residualCount: 512,
  },
);

golden(
  'Task Management Request',
  hex(
    '42 81 00 00 00 00 00 00 00 01 00 00 00 00 00 00',
    '00 00 00 09 00 00 00 05 00 00 00 0a 00 00 00 0b',
    '00 00 00 04 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeTaskMgmtRequest,
  (x) => encodeTaskMgmtRequest(x),
  {
    immediate: true,
    function: 1,
    lun: 0x0001000000000000n,
    itt: 9,
    referencedTaskTag: 5,
    cmdSN: 10,
    refCmdSN: 4,
  },
);

golden(
  'Task Management Response',
  hex(
    '22 80 01 00 00 00 00 00 00 00 00 00 00 00 00 00',
    '00 00 00 09 00 00 00 00 00 00 00 2b 00 00 00 0b',
    '00 00 00 8a 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeTaskMgmtResponse,
  (x) => encodeTaskMgmtResponse(x),
  { response: 1, itt: 9, statSN: 43, expCmdSN: 11, maxCmdSN: 138 },
);

golden(
  'Data-Out',
  hex(
    '05 80 00 00 00 00 10 00 00 00 00 00 00 00 00 00',
    '00 00 00 03 00 00 00 77 00 00 00 00 00 00 00 05',
    '00 00 00 00 00 00 00 02 00 00 20 00 00 00 00 00',
  ),
  decodeDataOut,
  (x) => encodeDataOut(x),
  { final: true, dataSegmentLength: 4096, itt: 3, ttt: 0x77, dataSN: 2, bufferOffset: 8192 },
);

golden(
  'Data-In',
  hex(
    '25 83 00 00 00 00 02 00 00 00 00 00 00 00 00 00',
    '00 00 00 03 ff ff ff ff 00 00 00 06 00 00 00 07',
    '00 00 00 86 00 00 00 01 00 00 02 00 00 00 00 e0',
  ),
  decodeDataIn,
  (x) => encodeDataIn(x),
  {
    final: true,
    underflow: true,
    statusPresent: true,
    status: 0,
    dataSegmentLength: 512,
    ttt: 0xffffffff,
    statSN: 6,
    dataSN: 1,
    bufferOffset: 512,
    residualCount: 224,
  },
);

golden(
  'R2T',
  hex(
    '31 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
    '00 00 00 03 00 00 00 08 00 00 00 06 00 00 00 07',
    '00 00 00 86 00 00 00 00 00 04 00 00 00 04 00 00',
  ),
  decodeR2t,
  (x) => encodeR2t(x),
  { itt: 3, ttt: 8, statSN: 6, r2tSN: 0, bufferOffset: 262144, desiredDataTransferLength: 262144 },
);

golden(
  'NOP-Out',
  hex(
    '40 80 00 00 00 00 00 04 00 00 00 00 00 00 00 00',
    'ff ff ff ff 7f 00 00 01 00 00 00 0c 00 00 00 09',
    '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeNopOut,
  (x) => encodeNopOut(x),
  { immediate: true, dataSegmentLength: 4, itt: 0xffffffff, ttt: 0x7f000001, cmdSN: 12, expStatSN: 9 },
);

golden(
  'NOP-In',
  hex(
    '20 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
    'ff ff ff ff 7f 00 00 01 00 00 00 09 00 00 00 0c',
    '00 00 00 8b 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeNopIn,
  (x) => encodeNopIn(x),
  { itt: 0xffffffff, ttt: 0x7f000001, statSN: 9, expCmdSN: 12, maxCmdSN: 139 },
);

golden(
  'Login Request',
  hex(
    '43 87 00 00 00 00 00 30 40 00 01 37 00 00 00 00',
    '00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00',
    '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeLoginRequest,
  (x) => encodeLoginRequest(x),
  {
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    dataSegmentLength: 48,
    isid: 0x400001370000,
    tsih: 0,
    itt: 1,
    cmdSN: 1,
  },
);

golden(
  'Login Response',
  hex(
    '23 87 00 00 00 00 00 10 40 00 01 37 00 00 00 05',
    '00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01',
    '00 00 00 80 02 01 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeLoginResponse,
  (x) => encodeLoginResponse(x),
  {
    transit: true,
    csg: 1,
    nsg: 3,
    isid: 0x400001370000,
    tsih: 5,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 128,
    status: 0x0201,
  },
);

golden(
  'Text Request',
  hex(
    '44 80 00 00 00 00 00 10 00 00 00 00 00 00 00 00',
    '00 00 00 02 ff ff ff ff 00 00 00 02 00 00 00 03',
    '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeTextRequest,
  (x) => encodeTextRequest(x),
  { immediate: true, final: true, continue: false, dataSegmentLength: 16, itt: 2, ttt: 0xffffffff, cmdSN: 2 },
);

golden(
  'Text Response',
  hex(
    '24 40 00 00 00 00 20 00 00 00 00 00 00 00 00 00',
    '00 00 00 02 40 00 00 01 00 00 00 03 00 00 00 02',
    '00 00 00 81 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeTextResponse,
  (x) => encodeTextResponse(x),
  { final: false, continue: true, dataSegmentLength: 8192, ttt: 0x40000001 },
);

golden(
  'Logout Request',
  hex(
    '46 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
    '00 00 00 0a 00 00 00 00 00 00 00 05 00 00 00 07',
    '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeLogoutRequest,
  (x) => encodeLogoutRequest(x),
  { immediate: true, reason: 0, itt: 10, cid: 0, cmdSN: 5, expStatSN: 7 },
);

golden(
  'Logout Response',
  hex(
    '26 80 02 00 00 00 00 00 00 00 00 00 00 00 00 00',
    '00 00 00 0a 00 00 00 00 00 00 00 07 00 00 00 05',
    '00 00 00 84 00 00 00 00 00 02 00 00 00 00 00 00',
  ),
  decodeLogoutResponse,
  (x) => encodeLogoutResponse(x),
  { response: 2, itt: 10, statSN: 7, time2Wait: 2, time2Retain: 0 },
);

golden(
  'Reject',
  hex(
    '3f 80 04 00 00 00 00 30 00 00 00 00 00 00 00 00',
    'ff ff ff ff 00 00 00 00 00 00 00 08 00 00 00 05',
    '00 00 00 84 00 00 00 00 00 00 00 00 00 00 00 00',
  ),
  decodeReject,
  (x) => encodeReject(x),
  { reason: 4, dataSegmentLength: 48, statSN: 8 },
);

golden(
  'Async Message',
  hex(
    '32 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
    'ff ff ff ff 00 00 00 00 00 00 00 09 00 00 00 05',
    '00 00 00 84 01 00 00 00 00 00 00 05 00 00 00 00',
  ),
  decodeAsyncMessage,
  (x) => encodeAsyncMessage(x),
  { asyncEvent: 1, parameter3: 5, statSN: 9 },
);

golden(
  'SNACK',
  hex(
    '10 81 00 00 00 00 00 00 00 00 00 00 00 00 00 00',
    '00 00 00 03 ff ff ff ff 00 00 00 00 00 00 00 05',
    '00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00',
  ),
  decodeSnack,
  (x) => encodeSnack(x),
  { type: 1, itt: 3, expStatSN: 5, begRun: 2, runLength: 0 },
);

test('CRC32C: RFC 3720 B.4 vectors (wire bytes, least significant first)', () => {
  const wire = (b: Buffer): string => {
    const d = Buffer.alloc(4);
    d.writeUInt32LE(crc32c(b), 0);
    return d.toString('hex');
  };
  assert.equal(wire(Buffer.alloc(32)), 'aa36918a');
  assert.equal(wire(Buffer.alloc(32, 0xff)), '43aba862');
  assert.equal(wire(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), '4e79dd46');
  assert.equal(wire(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), '5cdb3f11');
  assert.equal(wire(READ10), '563a96d9');
  // Chaining equals one pass over the concatenation.
  const a = Buffer.from('hello, '),
    b = Buffer.from('iSCSI data digest');
  assert.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
});

test('AHS: extended CDB and bidirectional read length, golden bytes, round trip and bounds', () => {
  const ext = encodeAhs({ type: 'extended-cdb', cdbTail: Buffer.from([1, 2, 3, 4, 5]) });
  assert.deepEqual(ext, hex('00 06 01 00 01 02 03 04 05 00 00 00'));
  const bidi = encodeAhs({ type: 'bidi-read-length', length: 4096 });
  assert.deepEqual(bidi, hex('00 05 02 00 00 00 10 00'));
  const list = decodeAhsList(Buffer.concat([ext, bidi]));
  assert.deepEqual(list, [
    { type: 'extended-cdb', cdbTail: Buffer.from([1, 2, 3, 4, 5]) },
    { type: 'bidi-read-length', length: 4096 },
  ]);
  assert.deepEqual(extendedCdb(Buffer.alloc(16, 9), list).length, 21);
  assert.throws(() => decodeAhsList(hex('00 40 01 00 00 00 00 00')), /runs past/);
  assert.throws(() => decodeAhsList(hex('00 02')), /runs past/);
});

test('text pairs: NUL-separated key=value, caps and malformed input', () => {
  const b = encodeTextPairs([
    ['HeaderDigest', 'CRC32C,None'],
    ['MaxBurstLength', '262144'],
  ]);
  assert.equal(b.toString('latin1'), 'HeaderDigest=CRC32C,None\0MaxBurstLength=262144\0');
  assert.deepEqual(decodeTextPairs(Buffer.concat([b, Buffer.alloc(3)])), [
    ['HeaderDigest', 'CRC32C,None'],
    ['MaxBurstLength', '262144'],
  ]);
  assert.throws(() => decodeTextPairs(Buffer.from('novalue\0')), TextFormatError);
  assert.throws(() => decodeTextPairs(Buffer.from('=x\0')), TextFormatError);
  assert.throws(() => decodeTextPairs(Buffer.from(`${'K'.repeat(64)}=1\0`)), /at most 63/);
  assert.throws(() => decodeTextPairs(Buffer.from(`K=${'v'.repeat(8193)}\0`)), /at most 8192/);
  assert.throws(() => decodeTextPairs(Buffer.from([0x4b, 0x3d, 0xff, 0])), /UTF-8/);
});

test('text values: numbers (decimal, hex, base64), binary, sense segment', () => {
  assert.equal(parseNumber('262144'), 262144);
  assert.equal(parseNumber('0x40000'), 262144);
  assert.equal(parseNumber('0bAAQAAA=='), 262144);
  assert.equal(parseNumber('-1'), undefined);
  assert.equal(parseNumber('12a'), undefined);
  assert.equal(parseNumber('01'), undefined);
  assert.deepEqual(parseBinary('0xabc'), Buffer.from([0x0a, 0xbc]));
  assert.deepEqual(parseBinary('0bq80='), Buffer.from([0xab, 0xcd]));
  assert.equal(parseBinary('abc'), undefined);
  assert.equal(formatBinary(Buffer.from([1, 255])), '0x01ff');
  assert.deepEqual(senseDataSegment(Buffer.from([0x70, 0, 5])), hex('00 03 70 00 05'));
});

test('LUN field: peripheral and flat addressing; anything else is no LUN', () => {
  assert.equal(decodeLun(0n), 0);
  assert.equal(decodeLun(0x0005000000000000n), 5);
  assert.equal(decodeLun(0x4123000000000000n), 0x123);
  assert.equal(decodeLun(encodeLun(300)), 300);
  assert.equal(encodeLun(300), 0x412c000000000000n);
  assert.equal(decodeLun(0x0105000000000000n), NO_SUCH_LUN); // bus 1
  assert.equal(decodeLun(0x8000000000000000n), NO_SUCH_LUN); // logical unit addressing
  assert.equal(decodeLun(0x0000000100000000n), NO_SUCH_LUN); // a second level
});
