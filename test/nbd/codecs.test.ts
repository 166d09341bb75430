/**
 * Every NBD codec against golden bytes written out field by field from proto.md's layouts (the
 * comments name the fields), and round trips. Bytes from a real peer (qemu-nbd's greeting and its
 * replies) are checked in qemu-interop.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE,
  NbdProtocolError,
  OptionError,
  checkClientFlags,
  decodeChunkHeader,
  decodeChunkPayload,
  decodeClientFlags,
  decodeExportNameReply,
  decodeGreeting,
  decodeInfo,
  decodeInfoRequest,
  decodeMetaContextReply,
  decodeMetaContextRequest,
  decodeOptionHeader,
  decodeOptionReplyHeader,
  decodeRequest,
  decodeServerReply,
  decodeSimpleReply,
  encodeBlockStatusChunk,
  encodeClientFlags,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfo,
  encodeInfoRequest,
  encodeMetaContextReply,
  encodeMetaContextRequest,
  encodeNoneChunk,
  encodeOffsetDataChunk,
  encodeOffsetHoleChunk,
  encodeOptionError,
  encodeOptionReply,
  encodeOptionRequest,
  encodeRequest,
  encodeServerReply,
  encodeSimpleReply,
  type Info,
} from '../../src/nbd/index.js';

/** Hex with spaces between fields, as the tests write it. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s).toString('hex');
const HANDLE = 0x0102030405060708n;
const H = '0102030405060708';

test('greeting: NBDMAGIC, IHAVEOPT, handshake flags', () => {
  const golden = hex('4e42444d41474943 49484156454f5054 0003');
  assert.deepEqual(encodeGreeting({ handshakeFlags: 3 }), golden);
  assert.deepEqual(decodeGreeting(golden), { handshakeFlags: 3 });
  assert.throws(() => decodeGreeting(hex('4e42444d41474944 49484156454f5054 0003')), NbdProtocolError);
});

test('client flags: fixed newstyle and no zeroes; unknown bits drop the connection', () => {
  assert.deepEqual(encodeClientFlags({ fixedNewstyle: true, noZeroes: true }), hex('00000003'));
  const f = decodeClientFlags(hex('00000001'));
  assert.deepEqual(f, { fixedNewstyle: true, noZeroes: false, raw: 1 });
  checkClientFlags(decodeClientFlags(hex('00000003')), 3);
  assert.throws(
    () => checkClientFlags(decodeClientFlags(hex('00000004')), 3),
    /BAD_CLIENT_FLAGS|did not offer/,
  );
  // NO_ZEROES is only allowed when the server offered it.
  assert.throws(() => checkClientFlags(decodeClientFlags(hex('00000002')), 1), NbdProtocolError);
});

test('option request: IHAVEOPT, option, length, data', () => {
  const data = hex('00000004' + ascii('disk') + '0001 0003');
  const golden = hex('49484156454f5054 00000007 0000000c' + data.toString('hex'));
  assert.deepEqual(encodeOptionRequest(NBD_OPT.GO, data), golden);
  assert.deepEqual(decodeOptionHeader(golden), { option: 7, length: 12 });
  assert.throws(() => decodeOptionHeader(hex('49484156454f5055 00000007 00000000')), NbdProtocolError);
});

test('option reply: magic, option, type, length, data', () => {
  const golden = hex('0003e889045565a9 00000007 00000001 00000000');
  assert.deepEqual(encodeOptionReply(NBD_OPT.GO, NBD_REP.ACK), golden);
  assert.deepEqual(decodeOptionReplyHeader(golden), { option: 7, type: 1, length: 0 });
  const err = encodeOptionError(NBD_OPT.LIST, NBD_REP.ERR_INVALID, 'no');
  assert.deepEqual(err, hex('0003e889045565a9 00000003 80000003 00000002' + ascii('no')));
  // Messages are cut to the spec's 4096-byte string limit.
  assert.equal(encodeOptionError(1, NBD_REP.ERR_UNSUP, 'x'.repeat(5000)).length, 20 + 4096);
});

test('NBD_OPT_INFO/GO data: name length, name, count, info types', () => {
  const golden = hex('00000004' + ascii('disk') + '0002 0003 0001');
  const r = { name: 'disk', requests: [NBD_INFO.BLOCK_SIZE, NBD_INFO.NAME] };
  assert.deepEqual(encodeInfoRequest(r), golden);
  assert.deepEqual(decodeInfoRequest(golden), r);
  assert.deepEqual(decodeInfoRequest(hex('00000000 0000')), { name: '', requests: [] });
  const bad = (h: string): void => assert.throws(() => decodeInfoRequest(hex(h)), OptionError);
  bad('00000004 6469736b 0001'); // one request announced, none sent
  bad('00000005 6469736b 0000'); // name longer than the data allows
  bad('00000001 00 0000'); // NUL in the name
  bad('00000000 0000 00'); // a trailing byte
  bad('0000');
});

test('NBD_REP_INFO payloads: export, name, description, block size; unknown kept', () => {
  const cases: [Info, string][] = [
    [{ type: 'export', size: 0x40000000, flags: 0x0d6f }, '0000 0000000040000000 0d6f'],
    [{ type: 'name', name: 'disk' }, '0001' + ascii('disk')],
    [{ type: 'description', text: 'a disk' }, '0002' + ascii('a disk')],
    [
      { type: 'block-size', minimum: 1, preferred: 4096, maximum: 32 << 20 },
      '0003 00000001 00001000 02000000',
    ],
    [{ type: 'unknown', info: 9, data: hex('abcd') }, '0009 abcd'],
  ];
  for (const [info, golden] of cases) {
    assert.deepEqual(encodeInfo(info as Exclude<Info, { type: 'invalid' }>), hex(golden), info.type);
    assert.deepEqual(decodeInfo(hex(golden)), info, info.type);
  }
  assert.equal(decodeInfo(hex('0000 00000000')).type, 'invalid');
  assert.equal(decodeInfo(hex('0003 00000001')).type, 'invalid');
});

test('NBD_OPT_EXPORT_NAME reply: size, flags, 124 zeroes unless NO_ZEROES', () => {
  const r = { size: 1 << 20, flags: 0x0003 };
  assert.deepEqual(encodeExportNameReply(r, true), hex('0000000000100000 0003'));
  const padded = encodeExportNameReply(r, false);
  assert.equal(padded.length, 134);
  assert.ok(padded.subarray(10).every((b) => b === 0));
  assert.deepEqual(decodeExportNameReply(padded), r);
});

test('NBD_REP_SERVER and NBD_REP_META_CONTEXT data', () => {
  const s = { name: 'disk', description: 'a disk' };
  assert.deepEqual(encodeServerReply(s), hex('00000004' + ascii('disk') + ascii('a disk')));
  assert.deepEqual(decodeServerReply(encodeServerReply(s)), s);
  assert.throws(() => decodeServerReply(hex('00000009 61')), RangeError);
  const m = { id: 1, name: 'base:allocation' };
  assert.deepEqual(encodeMetaContextReply(m), hex('00000001' + ascii('base:allocation')));
  assert.deepEqual(decodeMetaContextReply(encodeMetaContextReply(m)), m);
});

test('meta context option data: name, query count, queries', () => {
  const r = { name: 'disk', queries: ['base:allocation', 'qemu:'] };
  const golden = hex(
    '00000004' + ascii('disk') + '00000002 0000000f' + ascii('base:allocation') + '00000005' + ascii('qemu:'),
  );
  assert.deepEqual(encodeMetaContextRequest(r), golden);
  assert.deepEqual(decodeMetaContextRequest(golden, 'test'), r);
  const bad = (h: string): void => assert.throws(() => decodeMetaContextRequest(hex(h), 't'), OptionError);
  bad('00000004 6469736b 00000001 00000010 61'); // a query longer than the data
  bad('00000000 ffffffff'); // a count that cannot fit
  bad('00000000 00000000 00'); // a trailing byte
  bad('00000004 6469'); // a name longer than the data
});

test('request: magic, flags, type, handle, offset, length', () => {
  const golden = hex(`25609513 0001 0001 ${H} 0000000000001000 00000200`);
  const r = { flags: 1, type: 1, handle: HANDLE, offset: 0x1000, length: 0x200 };
  assert.deepEqual(encodeRequest(r), golden);
  assert.deepEqual(decodeRequest(golden), r);
  // Offsets a number cannot hold exactly are past every export's end.
  assert.equal(decodeRequest(encodeRequest({ ...r, offset: 1n << 63n })).offset, Infinity);
  assert.equal(decodeRequest(encodeRequest({ ...r, offset: 2 ** 53 - 1 })).offset, 2 ** 53 - 1);
  assert.throws(
    () => decodeRequest(hex(`25609514 0001 0001 ${H} 0000000000001000 00000200`)),
    NbdProtocolError,
  );
});

test('simple reply: magic, error, handle', () => {
  const golden = hex(`67446698 00000016 ${H}`);
  assert.deepEqual(encodeSimpleReply(22, HANDLE), golden);
  assert.deepEqual(decodeSimpleReply(golden), { error: 22, handle: HANDLE });
  assert.throws(() => decodeSimpleReply(hex(`668e33ef 00000016 ${H}`)), NbdProtocolError);
});

test('structured reply chunks: NONE, OFFSET_DATA, OFFSET_HOLE, BLOCK_STATUS, ERROR', () => {
  const cases: [Buffer, string][] = [
    [encodeNoneChunk(HANDLE), `668e33ef 0001 0000 ${H} 00000000`],
    [
      encodeOffsetDataChunk(NBD_REPLY_FLAG_DONE, HANDLE, 0x200, hex('deadbeef')),
      `668e33ef 0001 0001 ${H} 0000000c 0000000000000200 deadbeef`,
    ],
    [
      encodeOffsetHoleChunk(0, HANDLE, 0x1000, 0x3000),
      `668e33ef 0000 0002 ${H} 0000000c 0000000000001000 00003000`,
    ],
    [
      encodeBlockStatusChunk(NBD_REPLY_FLAG_DONE, HANDLE, 1, [
        { length: 0x1000, flags: 3 },
        { length: 0xf000, flags: 0 },
      ]),
      `668e33ef 0001 0005 ${H} 00000014 00000001 00001000 00000003 0000f000 00000000`,
    ],
    [
      encodeErrorChunk(NBD_REPLY_FLAG_DONE, HANDLE, 22, 'oops'),
      `668e33ef 0001 8001 ${H} 0000000a 00000016 0004 ${ascii('oops')}`,
    ],
  ];
  for (const [got, golden] of cases) assert.deepEqual(got, hex(golden));
  const decoded = cases.map(([b]) => {
    const h = decodeChunkHeader(b);
    return decodeChunkPayload(h.type, b.subarray(20, 20 + h.length));
  });
  assert.deepEqual(decoded, [
    { type: 'none' },
    { type: 'offset-data', offset: 0x200, data: hex('deadbeef') },
    { type: 'offset-hole', offset: 0x1000, size: 0x3000 },
    {
      type: 'block-status',
      contextId: 1,
      extents: [
        { length: 0x1000, flags: 3 },
        { length: 0xf000, flags: 0 },
      ],
    },
    { type: 'error', error: 22, message: 'oops' },
  ]);
  assert.deepEqual(decodeChunkPayload(NBD_REPLY_TYPE.ERROR_OFFSET, hex('00000005 0000 0000000000000010')), {
    type: 'error-offset',
    error: 5,
    message: '',
    offset: 16,
  });
  assert.deepEqual(decodeChunkPayload(77, hex('01')), { type: 'unknown', chunkType: 77, data: hex('01') });
  assert.equal(decodeChunkPayload(NBD_REPLY_TYPE.OFFSET_HOLE, hex('00')).type, 'invalid');
  assert.equal(decodeChunkPayload(NBD_REPLY_TYPE.ERROR, hex('00000005 0009 61')).type, 'invalid');
  assert.throws(() => decodeChunkHeader(hex(`67446698 0001 0000 ${H} 00000000`)), NbdProtocolError);
});

test('64-bit reply fields past 2^53 - 1 drop the stream instead of rounding', () => {
  const big = Buffer.alloc(10);
  big.writeBigUInt64BE(1n << 60n, 0);
  assert.throws(
    () => decodeExportNameReply(big),
    (e: unknown) => e instanceof NbdProtocolError && e.code === 'OUT_OF_RANGE',
  );
  const limit = Buffer.alloc(10);
  limit.writeBigUInt64BE(BigInt(Number.MAX_SAFE_INTEGER), 0);
  assert.equal(decodeExportNameReply(limit).size, Number.MAX_SAFE_INTEGER);

  const offsetData = Buffer.alloc(12);
  offsetData.writeBigUInt64BE(0xffff_ffff_ffff_ffffn, 0);
  assert.throws(
    () => decodeChunkPayload(NBD_REPLY_TYPE.OFFSET_DATA, offsetData),
    (e: unknown) => e instanceof NbdProtocolError && e.code === 'OUT_OF_RANGE',
  );
});
