/**
 * NBD_OPT_EXTENDED_HEADERS: the codecs (golden bytes written field by field from qemu's layout,
 * round trips), the parser split at every byte, the option's rules, and a transmission phase with
 * 64-bit lengths through a raw socket: extended chunks for every reply (NONE for successes, the
 * request's offset echoed), BLOCK_STATUS_EXT with extents past 4 GiB, zeroes longer than 4 GiB,
 * and payloads the server does not take consumed so the stream stays in sync. (No client on this
 * machine speaks extended headers: qemu has them from 8.2, libnbd from 1.18.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import {
  NBD_CMD,
  NBD_CMD_FLAG,
  NBD_ERRNO,
  NBD_FLAG,
  NBD_OPT,
  NBD_REP,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE,
  NbdProtocolError,
  RequestParser,
  decodeBlockStatusExtPayload,
  decodeExtendedChunkHeader,
  decodeExtendedRequest,
  decodeInfo,
  encodeBlockStatusExtPayload,
  encodeExtendedChunk,
  encodeExtendedRequest,
  encodeInfoRequest,
  encodeOptionRequest,
} from '../../src/nbd/index.js';
import { RawClient, serve } from './helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

test('extended request: magic, flags, type, cookie, 64-bit offset and length', () => {
  const golden = hex('21e41c71 0001 0006 0102030405060708 0000000100000000 0000000140000000');
  const r = { flags: 1, type: 6, handle: 0x0102030405060708n, offset: 4 * GiB, length: 5 * GiB };
  assert.deepEqual(encodeExtendedRequest(r), golden);
  assert.deepEqual(decodeExtendedRequest(golden), r);
  const far = decodeExtendedRequest(encodeExtendedRequest({ ...r, offset: 1n << 63n }));
  assert.equal(far.offset, Infinity);
  assert.equal(far.wireOffset, 1n << 63n);
  assert.throws(() => decodeExtendedRequest(hex('25609513' + '00'.repeat(28))), NbdProtocolError);
});

test('extended reply chunk and BLOCK_STATUS_EXT payload', () => {
  const payload = encodeBlockStatusExtPayload(2, [
    { length: 5 * GiB, flags: 1 },
    { length: 4096, flags: 0 },
  ]);
  assert.deepEqual(
    payload,
    hex('00000002 00000002 0000000140000000 0000000000000001 0000000000001000 0000000000000000'),
  );
  assert.deepEqual(decodeBlockStatusExtPayload(payload), {
    contextId: 2,
    extents: [
      { length: 5 * GiB, flags: 1 },
      { length: 4096, flags: 0 },
    ],
  });
  assert.equal(decodeBlockStatusExtPayload(payload.subarray(0, 20)), undefined);
  const chunk = encodeExtendedChunk(
    { flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE.BLOCK_STATUS_EXT, handle: 9n, offset: 512 },
    payload,
  );
  assert.deepEqual(
    chunk.subarray(0, 32),
    hex('6e8a278c 0001 0006 0000000000000009 0000000000000200 0000000000000028'),
  );
  assert.deepEqual(decodeExtendedChunkHeader(chunk), {
    flags: 1,
    type: 6,
    handle: 9n,
    offset: 512n,
    length: 40,
  });
});

test('extended request parser: split at every byte, payloads it does not take are skipped', () => {
  const stream = Buffer.concat([
    encodeExtendedRequest({ flags: 0, type: NBD_CMD.WRITE, handle: 1n, offset: 0, length: 5 }),
    Buffer.from('hello'),
    encodeExtendedRequest({
      flags: NBD_CMD_FLAG.PAYLOAD_LEN,
      type: NBD_CMD.BLOCK_STATUS,
      handle: 2n,
      offset: 0,
      length: 12,
    }),
    Buffer.alloc(12, 7),
    encodeExtendedRequest({ flags: 0, type: NBD_CMD.TRIM, handle: 3n, offset: 0, length: 6 * GiB }),
  ]);
  const kinds = (pieces: Buffer[]): string[] => {
    const p = new RequestParser({ maxPayload: 1024, extended: true });
    const out: string[] = [];
    for (const piece of pieces) {
      p.push(piece);
      for (let r = p.next(); r; r = p.next()) {
        out.push(`${r.kind}:${r.header.handle}:${r.kind === 'request' ? String(r.payload ?? '') : ''}`);
      }
    }
    return out;
  };
  const want = ['request:1:hello', 'skipped-payload:2:', 'request:3:'];
  for (let i = 0; i <= stream.length; i++) {
    assert.deepEqual(kinds([stream.subarray(0, i), stream.subarray(i)]), want, `split at ${i}`);
  }
  const huge = new RequestParser({ maxPayload: 1024, extended: true });
  huge.push(
    encodeExtendedRequest({ flags: 0, type: NBD_CMD.WRITE, handle: 1n, offset: 0, length: 1n << 60n }),
  );
  assert.throws(
    () => huge.next(),
    (e: unknown) => e instanceof NbdProtocolError && e.code === 'TOO_LARGE',
  );
});

describe('extended headers on the wire', async () => {
  const mem = new MemoryDevice(8 * GiB);
  const s = await serve([{ name: 'big', device: mem, discard: 'unmap' }]);

  test('the option: no data, once, then STRUCTURED_REPLY and EXPORT_NAME are refused', async () => {
    const c = await RawClient.connect(s.port);
    await c.hello();
    const types = async (opt: number, data?: Buffer) => (await c.option(opt, data)).map((r) => r.type);
    assert.deepEqual(await types(NBD_OPT.EXTENDED_HEADERS, Buffer.from('x')), [NBD_REP.ERR_INVALID]);
    assert.deepEqual(await types(NBD_OPT.EXTENDED_HEADERS), [NBD_REP.ACK]);
    assert.deepEqual(await types(NBD_OPT.EXTENDED_HEADERS), [NBD_REP.ERR_INVALID]);
    assert.deepEqual(await types(NBD_OPT.STRUCTURED_REPLY), [NBD_REP.ERR_EXT_HEADER_REQD]);
    const info = await c.option(NBD_OPT.INFO, encodeInfoRequest({ name: 'big', requests: [] }));
    const exp = decodeInfo(info[0]!.data);
    assert.ok(exp.type === 'export' && exp.flags & NBD_FLAG.SEND_DF, 'structured replies are implied');
    c.write(encodeOptionRequest(NBD_OPT.EXPORT_NAME, Buffer.from('big')));
    assert.ok(await c.closedWithin(2000), 'EXPORT_NAME cannot announce extended requests');
  });

  test('64-bit requests, extended chunks, BLOCK_STATUS_EXT past 4 GiB, skipped payloads', async () => {
    const c = await RawClient.connect(s.port);
    await c.go('big', { extended: true, contexts: ['base:allocation', 'qemu:allocation-depth'] });
    const at = 5 * GiB;
    c.request(
      { flags: NBD_CMD_FLAG.FUA, type: NBD_CMD.WRITE, handle: 1n, offset: at, length: 4 },
      Buffer.from('data'),
    );
    let r = await c.reply();
    assert.deepEqual([r.handle, r.error, r.chunks, r.offsets], [1n, 0, [{ type: 'none' }], [BigInt(at)]]);
    c.request({ flags: 0, type: NBD_CMD.READ, handle: 2n, offset: at - 2, length: 8 });
    r = await c.reply();
    assert.deepEqual(r.chunks, [
      { type: 'offset-data', offset: at - 2, data: Buffer.from('\0\0data\0\0', 'latin1') },
    ]);
    c.request({ flags: 0, type: NBD_CMD.READ, handle: 3n, offset: at - MiB, length: 2 * MiB });
    r = await c.reply();
    assert.deepEqual(
      r.chunks.map((x) => x.type),
      ['offset-hole', 'offset-data', 'offset-hole'],
    );
    // Zeroes over 4.5 GiB in one request: only possible with 64-bit lengths.
    c.request({ flags: 0, type: NBD_CMD.WRITE_ZEROES, handle: 4n, offset: 0, length: 4.5 * GiB });
    assert.equal((await c.reply()).error, 0);
    c.request({ flags: 0, type: NBD_CMD.BLOCK_STATUS, handle: 5n, offset: 0, length: 8 * GiB });
    r = await c.reply();
    const [base, depth] = r.chunks;
    assert.ok(base?.type === 'block-status' && depth?.type === 'block-status');
    const rest = 3 * GiB - 64 * 1024;
    assert.deepEqual(base.extents, [
      { length: 5 * GiB, flags: 3 },
      { length: 64 * 1024, flags: 0 },
      { length: rest, flags: 3 },
    ]);
    assert.deepEqual(depth.extents, [
      { length: 5 * GiB, flags: 0 },
      { length: 64 * 1024, flags: 1 },
      { length: rest, flags: 0 },
    ]);
    // A payload the server does not take (PAYLOAD_LEN on block status): EINVAL, bytes consumed.
    c.request(
      { flags: NBD_CMD_FLAG.PAYLOAD_LEN, type: NBD_CMD.BLOCK_STATUS, handle: 6n, offset: 0, length: 16 },
      Buffer.alloc(16, 0x21),
    );
    r = await c.reply();
    assert.equal(r.error, NBD_ERRNO.EINVAL);
    assert.ok(r.chunks[0]?.type === 'error' && /PAYLOAD_LEN/.test(r.chunks[0].message));
    c.request({ flags: 0, type: NBD_CMD.READ, handle: 7n, offset: 1n << 63n, length: 512 });
    r = await c.reply();
    assert.equal(r.error, NBD_ERRNO.EINVAL);
    assert.deepEqual(r.offsets, [1n << 63n], 'the offset is echoed as sent');
    c.request({ flags: 0, type: NBD_CMD.FLUSH, handle: 8n, offset: 0, length: 0 });
    assert.deepEqual((await c.reply()).chunks, [{ type: 'none' }]);
  });
});
