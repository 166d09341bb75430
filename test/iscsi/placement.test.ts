/**
 * Data-Out placement: a data segment that straddles socket chunks is copied once, straight to the
 * place the placer names (its command's buffer), with the data digest checked over the placed
 * bytes and the pad; a segment inside one chunk, or one the placer declines, takes the ordinary
 * path (a view or a fresh buffer). Read straight from the socket (directTarget), the rest of a
 * large segment lands in its place with no copy at all, and the place's buffer stays out of the
 * write-buffer pool while a read may still land in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDataOut, PduParser, type ParsedPdu } from '../../src/iscsi/index.js';
import { returnWriteBuffer, takeWriteBuffer } from '../../src/block/index.js';
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

test('declined by the placer, a segment is copied out of the received chunks', () => {
  const data = pattern(5000);
  const parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 });
  let calls = 0;
  parser.placer = () => {
    calls++;
    return undefined;
  };
  const chunk = dataOutPdu(data, false);
  parser.push(chunk);
  const one = parser.next();
  assert.ok(one && one.kind === 'pdu' && one.data.equals(data));
  assert.equal(calls, 1);
  const bhs = Buffer.from(one.bhs);
  chunk.fill(0);
  assert.ok(one.data.equals(data), 'overwriting the chunk (a reused staging buffer) changes nothing');
  assert.ok(one.bhs.equals(bhs), 'nor the header');
  const wire = dataOutPdu(data, false);
  parser.push(wire.subarray(0, 100));
  parser.push(wire.subarray(100));
  const two = parser.next();
  assert.ok(two && two.kind === 'pdu' && two.data.equals(data));
  assert.equal(calls, 2);
});

test('own: a partly received PDU no longer refers to the chunk it came in', () => {
  const data = pattern(3000);
  const parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 });
  const wire = dataOutPdu(data, false);
  const stage = Buffer.alloc(wire.length);
  // The first 1000 bytes arrive in a staging buffer that the next read overwrites.
  wire.copy(stage, 0, 0, 1000);
  parser.push(stage.subarray(0, 1000));
  assert.equal(parser.next(), undefined);
  parser.own();
  stage.fill(0xee);
  wire.copy(stage, 0, 1000);
  parser.push(stage.subarray(0, wire.length - 1000));
  const p = parser.next();
  assert.ok(p && p.kind === 'pdu' && p.data.equals(data));
});

/**
 * Feeds `wire` as a socket reader would (directTarget first, else a staged chunk of `step`),
 * parsing after every read; returns the PDUs and how the bytes came in.
 */
function feedDirect(
  parser: PduParser,
  wire: Buffer,
  step: number,
): { pdus: ParsedPdu[]; direct: number; staged: number } {
  let at = 0;
  const out = { pdus: [] as ParsedPdu[], direct: 0, staged: 0 };
  while (at < wire.length) {
    const t = parser.directTarget();
    const n = Math.min(t ? t.length : step, step, wire.length - at);
    if (t) {
      wire.copy(t, 0, at, at + n);
      assert.equal(parser.directReceived(n), true);
      out.direct += n;
    } else {
      parser.push(Buffer.from(wire.subarray(at, at + n)));
      out.staged += n;
    }
    at += n;
    for (let p = parser.next(); p; p = parser.next()) out.pdus.push(p);
  }
  return out;
}

for (const digest of [false, true]) {
  test(`read straight into its place: no copy, digest checked (data digest ${digest ? 'on' : 'off'})`, () => {
    const data = pattern(300_001);
    const wire = dataOutPdu(data, digest);
    const parser = new PduParser({ headerDigest: false, dataDigest: digest, maxDataSegmentLength: 1 << 20 });
    const target = Buffer.alloc(400_000);
    parser.placer = (_bhs, length) => target.subarray(4096, 4096 + length);
    assert.equal(parser.directTarget(), undefined, 'no target before a header');
    const count = feedDirect(parser, wire, 65536);
    assert.ok(count.direct > 200_000, `most bytes went straight to their place (${count.direct})`);
    assert.equal(count.pdus.length, 1);
    const p = count.pdus[0];
    assert.ok(p && p.kind === 'pdu');
    assert.equal(p.data.buffer, target.buffer);
    assert.equal(p.data.byteOffset, target.byteOffset + 4096);
    assert.ok(p.data.equals(data));
    assert.equal(p.dataDigestError, false);
    assert.ok(parser.idle);
  });
}

test('a corrupt data digest is reported for a segment read straight into a fresh buffer', () => {
  const data = pattern(150_000);
  const parser = new PduParser({ headerDigest: false, dataDigest: true, maxDataSegmentLength: 1 << 20 });
  const { pdus, direct } = feedDirect(parser, dataOutPdu(data, true, true), 40_000);
  assert.ok(direct > 0);
  const p = pdus[0];
  assert.ok(p && p.kind === 'pdu' && p.data.equals(data));
  assert.equal(p.dataDigestError, true);
});

test('a pooled buffer that a read may still fill is not handed out again', () => {
  const size = 512 * 1024;
  const buf = takeWriteBuffer(size);
  const parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 20 });
  parser.placer = (_bhs, length) => buf.subarray(0, length);
  const wire = dataOutPdu(pattern(200_000), false);
  parser.push(wire.subarray(0, 1000));
  assert.equal(parser.next(), undefined);
  const t = parser.directTarget();
  assert.ok(t && t.buffer === buf.buffer, 'the read goes to the pooled buffer');
  // The command ends (aborted, say) while the read is under way: its buffer comes back.
  returnWriteBuffer(buf);
  const again = takeWriteBuffer(size);
  assert.notEqual(again.buffer, buf.buffer, 'a pinned buffer is not pooled');
  // Cleared (the connection ends): a late read is not counted anywhere.
  parser.clear();
  assert.equal(parser.directReceived(100), false);
  assert.equal(parser.directTarget(), undefined);
});
