/**
 * Data-Out placement: a data segment that straddles socket chunks is copied once, straight to the
 * place the placer names (its command's buffer), with the data digest checked over the placed
 * bytes and the pad; a segment inside one chunk, or one the placer declines, takes the ordinary
 * path (a view or a fresh buffer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDataOut, PduParser } from '../../src/iscsi/index.js';
import { crc32c } from '../../src/util/index.js';

function dataOutPdu(data: Buffer, digest: boolean, corrupt = false): Buffer {
  const bhs = encodeDataOut({
    final: true,
    dataSegmentLength: data.length,
    lun: 0n,
    itt: 7,
    ttt: 0x1234,
    expStatSN: 1,
    dataSN: 0,
    bufferOffset: 4096,
  });
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  const parts = [bhs, data, pad];
  if (digest) {
    const d = Buffer.alloc(4);
    d.writeUInt32LE((crc32c(pad, crc32c(data)) ^ (corrupt ? 1 : 0)) >>> 0, 0);
    parts.push(d);
  }
  return Buffer.concat(parts);
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

for (const digest of [false, true]) {
  test(`a straddling Data-Out lands in its place in one copy (data digest ${digest ? 'on' : 'off'})`, () => {
    const data = pattern(100_001); // odd length: 3 pad bytes
    const wire = dataOutPdu(data, digest);
    const parser = new PduParser({ headerDigest: false, dataDigest: digest, maxDataSegmentLength: 1 << 20 });
    const target = Buffer.alloc(200_000);
    const asked: number[] = [];
    parser.placer = (_bhs, length) => {
      asked.push(length);
      return target.subarray(4096, 4096 + length);
    };
    // Socket-sized pieces: the segment straddles several.
    for (let at = 0; at < wire.length; at += 65536) parser.push(wire.subarray(at, at + 65536));
    const p = parser.next();
    assert.ok(p && p.kind === 'pdu');
    assert.deepEqual(asked, [data.length]);
    assert.equal(p.data.buffer, target.buffer, 'the data is a view of its place');
    assert.equal(p.data.byteOffset, target.byteOffset + 4096);
    assert.ok(target.subarray(4096, 4096 + data.length).equals(data));
    assert.equal(p.dataDigestError, false);
    assert.equal(parser.next(), undefined);
  });
}

test('a bad data digest is still reported for a placed segment', () => {
  const data = pattern(70_000);
  const wire = dataOutPdu(data, true, true);
  const parser = new PduParser({ headerDigest: false, dataDigest: true, maxDataSegmentLength: 1 << 20 });
  const target = Buffer.alloc(80_000);
  parser.placer = (_bhs, length) => target.subarray(0, length);
  for (let at = 0; at < wire.length; at += 30000) parser.push(wire.subarray(at, at + 30000));
  const p = parser.next();
  assert.ok(p && p.kind === 'pdu');
  assert.equal(p.dataDigestError, true);
});

test('inside one chunk, or declined by the placer, the segment takes the ordinary path', () => {
  const data = pattern(5000);
  const parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 });
  let calls = 0;
  parser.placer = () => {
    calls++;
    return undefined;
  };
  parser.push(dataOutPdu(data, false));
  const one = parser.next();
  assert.ok(one && one.kind === 'pdu' && one.data.equals(data));
  assert.equal(calls, 0, 'a segment in one chunk is a view: no placement asked');
  const wire = dataOutPdu(data, false);
  parser.push(wire.subarray(0, 100));
  parser.push(wire.subarray(100));
  const two = parser.next();
  assert.ok(two && two.kind === 'pdu' && two.data.equals(data));
  assert.equal(calls, 1, 'a straddling segment asks, and is copied as usual when declined');
});
