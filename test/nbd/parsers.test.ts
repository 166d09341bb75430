/**
 * The incremental parsers fed every message split at every byte (as pg-protocol's tests do):
 * a stream of messages cut in two at each position, and fed one byte at a time, must parse to
 * the same messages as the whole stream at once. Also: lengths over the cap are skipped without
 * buffering and the stream stays in sync; a bad magic throws; payloads inside one chunk are views.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NBD_CMD,
  NBD_OPT,
  NbdProtocolError,
  OptionParser,
  RequestParser,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOptionRequest,
  encodeRequest,
  type NegotiationInput,
  type ParsedRequest,
} from '../../src/nbd/index.js';

function drainAll<T>(p: { next(): T | undefined }): T[] {
  const out: T[] = [];
  for (let x = p.next(); x !== undefined; x = p.next()) out.push(x);
  return out;
}

/** Parses `stream` fed in the given pieces; returns every message. */
function feed<T>(make: () => { push(b: Buffer): void; next(): T | undefined }, pieces: Buffer[]): T[] {
  const p = make();
  const out: T[] = [];
  for (const piece of pieces) {
    p.push(piece);
    out.push(...drainAll(p));
  }
  return out;
}

/** The stream whole, split at every position, and byte by byte: all give `expected`. */
function checkEverySplit<T>(
  make: () => { push(b: Buffer): void; next(): T | undefined },
  stream: Buffer,
  expected: T[],
): void {
  const norm = (xs: T[]): unknown =>
    JSON.parse(JSON.stringify(xs, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
  assert.deepEqual(norm(feed(make, [stream])), norm(expected), 'whole');
  for (let i = 0; i <= stream.length; i++) {
    const got = feed(make, [stream.subarray(0, i), stream.subarray(i)]);
    assert.deepEqual(norm(got), norm(expected), `split at ${i}`);
  }
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(norm(feed(make, bytes)), norm(expected), 'byte by byte');
}

test('option parser: client flags and options, split at every byte', () => {
  const go = encodeInfoRequest({ name: 'disk', requests: [3] });
  const stream = Buffer.concat([
    encodeClientFlags({ fixedNewstyle: true, noZeroes: true }),
    encodeOptionRequest(NBD_OPT.STRUCTURED_REPLY),
    encodeOptionRequest(NBD_OPT.LIST, Buffer.alloc(40, 7)), // over the cap of 32: skipped
    encodeOptionRequest(NBD_OPT.GO, go),
  ]);
  const expected: NegotiationInput[] = [
    { kind: 'client-flags', flags: { fixedNewstyle: true, noZeroes: true, raw: 3 } },
    { kind: 'option', option: NBD_OPT.STRUCTURED_REPLY, data: Buffer.alloc(0) },
    { kind: 'too-big', option: NBD_OPT.LIST, length: 40 },
    { kind: 'option', option: NBD_OPT.GO, data: go },
  ];
  checkEverySplit(() => new OptionParser({ maxOptionData: 32 }), stream, expected);
});

test('option parser: a bad option magic throws; leftover bytes are handed over', () => {
  const p = new OptionParser();
  p.push(Buffer.concat([encodeClientFlags({ fixedNewstyle: true, noZeroes: false }), Buffer.alloc(16, 1)]));
  assert.equal(p.next()?.kind, 'client-flags');
  assert.throws(() => p.next(), NbdProtocolError);
  const q = new OptionParser();
  q.push(
    Buffer.concat([
      encodeClientFlags({ fixedNewstyle: true, noZeroes: false }),
      encodeOptionRequest(1),
      Buffer.from('xyz'),
    ]),
  );
  assert.equal(drainAll(q).length, 2);
  assert.deepEqual(q.drain(), Buffer.from('xyz'));
});

test('request parser: headers, write payloads and an oversized write, split at every byte', () => {
  const payload = Buffer.from([...Array(100).keys()]);
  const h = (type: number, handle: bigint, offset: number, length: number) => ({
    flags: 0,
    type,
    handle,
    offset,
    length,
  });
  const stream = Buffer.concat([
    encodeRequest(h(NBD_CMD.READ, 1n, 4096, 512)),
    encodeRequest(h(NBD_CMD.WRITE, 2n, 0, 100)),
    payload,
    encodeRequest(h(NBD_CMD.WRITE, 3n, 0, 300)), // over the cap of 256: reported, payload skipped
    Buffer.alloc(300, 0xee),
    encodeRequest(h(NBD_CMD.WRITE, 4n, 8, 0)),
    encodeRequest(h(NBD_CMD.FLUSH, 5n, 0, 0)),
  ]);
  const expected: ParsedRequest[] = [
    { kind: 'request', header: h(NBD_CMD.READ, 1n, 4096, 512), payload: undefined },
    { kind: 'request', header: h(NBD_CMD.WRITE, 2n, 0, 100), payload, pooled: true },
    { kind: 'skipped-payload', header: h(NBD_CMD.WRITE, 3n, 0, 300) },
    { kind: 'request', header: h(NBD_CMD.WRITE, 4n, 8, 0), payload: undefined },
    { kind: 'request', header: h(NBD_CMD.FLUSH, 5n, 0, 0), payload: undefined },
  ];
  checkEverySplit(() => new RequestParser({ maxPayload: 256 }), stream, expected);
});

test('request parser: a payload is never a view of a received chunk; a bad magic throws', () => {
  const chunk = Buffer.concat([
    encodeRequest({ flags: 0, type: NBD_CMD.WRITE, handle: 1n, offset: 0, length: 8 }),
    Buffer.alloc(8, 1),
  ]);
  const p = new RequestParser({ maxPayload: 1024 });
  p.push(chunk);
  const r = p.next();
  assert.ok(r?.kind === 'request' && r.payload);
  assert.ok(r.payload.equals(Buffer.alloc(8, 1)));
  // A copy: the chunk may be a staging buffer that the next read overwrites.
  chunk.fill(9);
  assert.ok(r.payload.equals(Buffer.alloc(8, 1)), 'overwriting the chunk leaves the payload as it was');
  assert.ok(p.idle);
  p.push(Buffer.alloc(28, 0x55));
  assert.throws(
    () => p.next(),
    (e: unknown) => e instanceof NbdProtocolError && e.code === 'BAD_MAGIC',
  );
});

test('request parser: a 4 GiB write is skipped in constant memory', () => {
  const p = new RequestParser({ maxPayload: 1024 });
  p.push(encodeRequest({ flags: 0, type: NBD_CMD.WRITE, handle: 9n, offset: 0, length: 0xffffffff }));
  assert.equal(p.next()?.kind, 'skipped-payload');
  const mib = Buffer.alloc(1 << 20);
  for (let left = 0xffffffff; left > 0; left -= mib.length) {
    p.push(left >= mib.length ? mib : mib.subarray(0, left));
    assert.equal(p.next(), undefined);
    assert.equal(p.buffered, 0);
  }
  p.push(encodeRequest({ flags: 0, type: NBD_CMD.FLUSH, handle: 10n, offset: 0, length: 0 }));
  const r = p.next();
  assert.ok(r?.kind === 'request' && r.header.handle === 10n);
});

test('request parser: the rest of a large write payload is read straight into its pooled buffer', () => {
  const len = 200_000;
  const payload = Buffer.from(Array.from({ length: len }, (_, i) => (i * 7) & 0xff));
  const hdr = encodeRequest({ flags: 0, type: NBD_CMD.WRITE, handle: 7n, offset: 0, length: len });
  const p = new RequestParser({ maxPayload: 1 << 20 });
  assert.equal(p.directTarget(), undefined, 'no target between requests');
  p.push(Buffer.concat([hdr, payload.subarray(0, 1000)]));
  assert.equal(p.next(), undefined);
  // Reads land in what directTarget names, in pieces of any size.
  let at = 1000;
  for (const n of [1, 60_000, 100_000]) {
    const t = p.directTarget();
    assert.ok(t);
    assert.equal(t.length, len - at, 'exactly the rest of the payload');
    payload.copy(t, 0, at, at + n);
    p.directReceived(n);
    at += n;
    assert.equal(p.buffered, at, 'bytes received into the payload count as buffered');
    assert.equal(p.next(), undefined);
  }
  const t = p.directTarget()!;
  payload.copy(t, 0, at);
  p.directReceived(len - at);
  assert.throws(() => p.directReceived(1), RangeError, 'no more than the payload');
  const r = p.next();
  assert.ok(r?.kind === 'request' && r.payload);
  assert.ok(r.payload.equals(payload));
  assert.equal(r.pooled, true);
  assert.ok(p.idle);
  assert.equal(p.directTarget(), undefined);
  // A payload with less than 64 KiB to come is read through the staging buffer as before.
  p.push(Buffer.concat([hdr, payload.subarray(0, len - 1000)]));
  assert.equal(p.next(), undefined);
  assert.equal(p.directTarget(), undefined);
});
