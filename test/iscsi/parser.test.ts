/**
 * The incremental PDU parser: a stream of PDUs fed split at every byte gives the same PDUs as fed
 * whole; lengths are checked before buffering (an oversized data segment is reported and skipped,
 * nothing of it kept); header digest errors throw, data digest errors are flagged on the PDU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeAhs,
  encodeDataOut,
  encodeNopOut,
  encodeScsiCommand,
  IscsiProtocolError,
  padLength,
  PduParser,
  type ParsedPdu,
  type ParserSettings,
} from '../../src/iscsi/index.js';
import { crc32c } from '../../src/util/index.js';

function frame(
  bhs: Buffer,
  ahs: Buffer,
  data: Buffer,
  s: Partial<ParserSettings>,
  corrupt?: 'header' | 'data',
): Buffer {
  const header = Buffer.concat([bhs, ahs]);
  const parts = [header];
  if (s.headerDigest) {
    const d = Buffer.alloc(4);
    d.writeUInt32LE((crc32c(header) ^ (corrupt === 'header' ? 1 : 0)) >>> 0, 0);
    parts.push(d);
  }
  if (data.length) {
    const padded = Buffer.concat([data, Buffer.alloc(padLength(data.length))]);
    parts.push(padded);
    if (s.dataDigest) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE((crc32c(padded) ^ (corrupt === 'data' ? 1 : 0)) >>> 0, 0);
      parts.push(d);
    }
  }
  return Buffer.concat(parts);
}

function sampleStream(s: Partial<ParserSettings>): { bytes: Buffer; count: number } {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x2a;
  const tail = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const ahs = encodeAhs({ type: 'extended-cdb', cdbTail: tail });
  const data = Buffer.from('immediate data, 31 bytes long!!');
  const cmd = encodeScsiCommand({
    immediate: false,
    final: true,
    read: false,
    write: true,
    attr: 1,
    ahsLength: ahs.length,
    dataSegmentLength: data.length,
    lun: 0n,
    itt: 1,
    expectedDataTransferLength: 31,
    cmdSN: 1,
    expStatSN: 0,
    cdb,
  });
  const nop = encodeNopOut({
    immediate: true,
    dataSegmentLength: 0,
    lun: 0n,
    itt: 2,
    ttt: 0xffffffff,
    cmdSN: 2,
    expStatSN: 0,
  });
  const d2 = Buffer.alloc(4096, 0x5a);
  const dout = encodeDataOut({
    final: true,
    dataSegmentLength: d2.length,
    lun: 0n,
    itt: 1,
    ttt: 7,
    expStatSN: 0,
    dataSN: 0,
    bufferOffset: 0,
  });
  return {
    bytes: Buffer.concat([
      frame(cmd, ahs, data, s),
      frame(nop, Buffer.alloc(0), Buffer.alloc(0), s),
      frame(dout, Buffer.alloc(0), d2, s),
    ]),
    count: 3,
  };
}

function parseAll(p: PduParser): ParsedPdu[] {
  const out: ParsedPdu[] = [];
  for (let x = p.next(); x; x = p.next()) out.push(x);
  return out;
}

function normal(pdus: ParsedPdu[]): unknown[] {
  return pdus.map((x) =>
    x.kind === 'pdu'
      ? {
          bhs: x.bhs.toString('hex'),
          ahs: x.ahs.toString('hex'),
          data: x.data.toString('hex'),
          dd: x.dataDigestError,
        }
      : x,
  );
}

for (const s of [
  { headerDigest: false, dataDigest: false },
  { headerDigest: true, dataDigest: true },
  { headerDigest: true, dataDigest: false },
]) {
  test(`parser: every split point gives the same PDUs (digests ${JSON.stringify(s)})`, () => {
    const settings = { ...s, maxDataSegmentLength: 8192 };
    const { bytes, count } = sampleStream(s);
    const whole = new PduParser(settings);
    whole.push(bytes);
    const expected = parseAll(whole);
    assert.equal(expected.length, count);
    assert.ok(whole.idle);
    assert.equal((expected[0] as { data: Buffer }).data.toString(), 'immediate data, 31 bytes long!!');
    assert.equal((expected[0] as { ahs: Buffer }).ahs.length, 16);
    for (let i = 1; i < bytes.length; i++) {
      const p = new PduParser(settings);
      p.push(bytes.subarray(0, i));
      const got = parseAll(p);
      p.push(bytes.subarray(i));
      got.push(...parseAll(p));
      assert.deepEqual(normal(got), normal(expected), `split at ${i}`);
      assert.ok(p.idle);
    }
    // And one byte at a time.
    const p = new PduParser(settings);
    const got: ParsedPdu[] = [];
    for (let i = 0; i < bytes.length; i++) {
      p.push(bytes.subarray(i, i + 1));
      got.push(...parseAll(p));
    }
    assert.deepEqual(normal(got), normal(expected));
  });
}

test('parser: a data segment beyond the cap is reported before any of it is buffered, then skipped', () => {
  const p = new PduParser({ headerDigest: false, dataDigest: true, maxDataSegmentLength: 8192 });
  const big = Buffer.alloc(100_000, 1);
  const dout = encodeDataOut({
    final: true,
    dataSegmentLength: big.length,
    lun: 0n,
    itt: 1,
    ttt: 1,
    expStatSN: 0,
    dataSN: 0,
    bufferOffset: 0,
  });
  const nop = encodeNopOut({
    immediate: true,
    dataSegmentLength: 0,
    lun: 0n,
    itt: 9,
    ttt: 0xffffffff,
    cmdSN: 1,
    expStatSN: 0,
  });
  p.push(dout);
  const first = p.next();
  assert.equal(first?.kind, 'oversized');
  assert.equal(first?.kind === 'oversized' && first.dataSegmentLength, 100_000);
  // The skipped bytes are dropped as they arrive: nothing accumulates.
  for (let i = 0; i < big.length; i += 10_000) {
    p.push(big.subarray(i, i + 10_000));
    assert.equal(p.next(), undefined);
    assert.equal(p.buffered, 0);
  }
  p.push(Buffer.alloc(4)); // the data digest of the skipped segment
  p.push(nop);
  const after = p.next();
  assert.equal(after?.kind, 'pdu');
  assert.equal(after?.kind === 'pdu' && after.bhs.readUInt32BE(16), 9);
});

test('parser: a header digest error throws; a data digest error is flagged and framing goes on', () => {
  const s = { headerDigest: true, dataDigest: true, maxDataSegmentLength: 8192 };
  const nop = encodeNopOut({
    immediate: true,
    dataSegmentLength: 5,
    lun: 0n,
    itt: 3,
    ttt: 0xffffffff,
    cmdSN: 1,
    expStatSN: 0,
  });
  const p = new PduParser(s);
  p.push(frame(nop, Buffer.alloc(0), Buffer.from('hello'), s, 'header'));
  assert.throws(
    () => p.next(),
    (e: unknown) => e instanceof IscsiProtocolError && e.code === 'HEADER_DIGEST',
  );
  const q = new PduParser(s);
  q.push(frame(nop, Buffer.alloc(0), Buffer.from('hello'), s, 'data'));
  q.push(frame(nop, Buffer.alloc(0), Buffer.from('world'), s));
  const [a, b] = parseAll(q);
  assert.equal(a?.kind === 'pdu' && a.dataDigestError, true);
  assert.equal(b?.kind === 'pdu' && b.dataDigestError, false);
  assert.equal(b?.kind === 'pdu' && b.data.toString(), 'world');
});
