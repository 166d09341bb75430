/**
 * The negotiation phase through a raw socket: every option, every malformed option answered with
 * the spec's error reply and the negotiation going on, and the cases where the only answer is to
 * drop the connection (bad magic, unknown client flags, an unknown export in EXPORT_NAME).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import {
  NBD_FLAG,
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  decodeExportNameReply,
  decodeInfo,
  decodeMetaContextReply,
  decodeOptionReplyHeader,
  decodeServerReply,
  encodeClientFlags,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOptionRequest,
  matchQuery,
} from '../../src/nbd/index.js';
import { RawClient, serve } from './helpers.js';

const MiB = 1024 * 1024;

describe('NBD negotiation', async () => {
  const s = await serve(
    [
      { name: 'mem', description: 'memory disk', device: new MemoryDevice(MiB), discard: 'unmap' },
      { name: 'ro', device: new MemoryDevice(MiB), readOnly: true },
    ],
    { limits: { handshakeTimeoutMs: 1000 } },
  );
  const connect = (): Promise<RawClient> => RawClient.connect(s.port);
  const types = (rs: { type: number }[]): number[] => rs.map((r) => r.type);

  test('greeting offers fixed newstyle and no zeroes; unknown client flags drop the connection', async () => {
    const c = await connect();
    assert.equal((await c.read(18)).readUInt16BE(16), 3);
    c.write(Buffer.from([0, 0, 0, 0x05]));
    assert.ok(await c.closedWithin(2000), 'dropped');
  });

  test('a bad option magic drops the connection', async () => {
    const c = await connect();
    await c.hello();
    c.write(Buffer.alloc(16, 0x41));
    assert.ok(await c.closedWithin(2000));
  });

  test('unknown options get ERR_UNSUP, STARTTLS ERR_POLICY, and the negotiation goes on', async () => {
    const c = await connect();
    await c.hello();
    assert.deepEqual(types(await c.option(99)), [NBD_REP.ERR_UNSUP]);
    assert.deepEqual(types(await c.option(NBD_OPT.STARTTLS)), [NBD_REP.ERR_POLICY]);
    assert.deepEqual(types(await c.option(NBD_OPT.PEEK_EXPORT)), [NBD_REP.ERR_UNSUP]);
    const list = await c.option(NBD_OPT.LIST);
    assert.deepEqual(types(list), [NBD_REP.SERVER, NBD_REP.SERVER, NBD_REP.ACK]);
    assert.deepEqual(decodeServerReply(list[0]!.data), { name: 'mem', description: 'memory disk' });
    assert.deepEqual(decodeServerReply(list[1]!.data), { name: 'ro', description: '' });
    assert.deepEqual(types(await c.option(NBD_OPT.LIST, Buffer.from('x'))), [NBD_REP.ERR_INVALID]);
    assert.deepEqual(types(await c.option(NBD_OPT.ABORT)), [NBD_REP.ACK]);
    assert.ok(await c.closedWithin(2000), 'ABORT closes');
  });

  test('INFO: export, name, description and block size; errors for bad data and unknown exports', async () => {
    const c = await connect();
    await c.hello();
    const req = encodeInfoRequest({ name: 'mem', requests: [NBD_INFO.NAME, NBD_INFO.DESCRIPTION, 77] });
    const r = await c.option(NBD_OPT.INFO, req);
    assert.equal(r[r.length - 1]!.type, NBD_REP.ACK);
    const infos = r.slice(0, -1).map((x) => decodeInfo(x.data));
    const exp = infos.find((i) => i.type === 'export');
    assert.ok(exp?.type === 'export' && exp.size === MiB);
    assert.equal(exp.flags & NBD_FLAG.READ_ONLY, 0);
    assert.ok(exp.flags & NBD_FLAG.CAN_MULTI_CONN && exp.flags & NBD_FLAG.SEND_TRIM);
    assert.equal(exp.flags & NBD_FLAG.SEND_DF, 0, 'no DF without structured replies');
    assert.deepEqual(
      infos.filter((i) => i.type !== 'export'),
      [
        { type: 'name', name: 'mem' },
        { type: 'description', text: 'memory disk' },
        { type: 'block-size', minimum: 1, preferred: 4096, maximum: 32 * MiB },
      ],
    );
    assert.deepEqual(types(await c.option(NBD_OPT.INFO, encodeInfoRequest({ name: 'nope', requests: [] }))), [
      NBD_REP.ERR_UNKNOWN,
    ]);
    assert.deepEqual(types(await c.option(NBD_OPT.GO, Buffer.from('00000009', 'hex'))), [
      NBD_REP.ERR_INVALID,
    ]);
    // The empty name is the default (first) export; GO enters transmission.
    const go = await c.option(NBD_OPT.GO, encodeInfoRequest({ name: '', requests: [] }));
    assert.equal(go[go.length - 1]!.type, NBD_REP.ACK);
  });

  test('structured replies: once, without data; DF offered after them', async () => {
    const c = await connect();
    await c.hello();
    assert.deepEqual(types(await c.option(NBD_OPT.STRUCTURED_REPLY, Buffer.from('x'))), [
      NBD_REP.ERR_INVALID,
    ]);
    assert.deepEqual(types(await c.option(NBD_OPT.STRUCTURED_REPLY)), [NBD_REP.ACK]);
    assert.deepEqual(types(await c.option(NBD_OPT.STRUCTURED_REPLY)), [NBD_REP.ERR_INVALID]);
    const r = await c.option(NBD_OPT.INFO, encodeInfoRequest({ name: 'ro', requests: [] }));
    const exp = decodeInfo(r[0]!.data);
    assert.ok(exp.type === 'export' && exp.flags & NBD_FLAG.SEND_DF && exp.flags & NBD_FLAG.READ_ONLY);
    assert.equal(exp.flags & (NBD_FLAG.SEND_TRIM | NBD_FLAG.SEND_WRITE_ZEROES | NBD_FLAG.SEND_FLUSH), 0);
  });

  test('meta contexts: list all, wildcards, exact names, unknown namespaces, bad queries', async () => {
    const c = await connect();
    await c.hello();
    const meta = (opt: number, queries: string[], name = 'mem') =>
      c.option(opt, encodeMetaContextRequest({ name, queries }));
    const names = (rs: { type: number; data: Buffer }[]) =>
      rs.filter((r) => r.type === NBD_REP.META_CONTEXT).map((r) => decodeMetaContextReply(r.data));
    assert.deepEqual(types(await meta(NBD_OPT.SET_META_CONTEXT, ['base:allocation'])), [NBD_REP.ERR_INVALID]);
    await c.option(NBD_OPT.STRUCTURED_REPLY);
    assert.deepEqual(names(await meta(NBD_OPT.LIST_META_CONTEXT, [])), [
      { id: 0, name: 'base:allocation' },
      { id: 0, name: 'qemu:allocation-depth' },
    ]);
    assert.deepEqual(names(await meta(NBD_OPT.LIST_META_CONTEXT, ['qemu:', 'x-other:thing'])), [
      { id: 0, name: 'qemu:allocation-depth' },
    ]);
    assert.deepEqual(types(await meta(NBD_OPT.LIST_META_CONTEXT, ['nocolon'])), [NBD_REP.ERR_INVALID]);
    assert.deepEqual(types(await meta(NBD_OPT.LIST_META_CONTEXT, [], 'nope')), [NBD_REP.ERR_UNKNOWN]);
    // SET: "base:" alone selects nothing; exact names select with unique IDs; duplicates once.
    assert.deepEqual(types(await meta(NBD_OPT.SET_META_CONTEXT, ['base:'])), [NBD_REP.ACK]);
    const set = names(
      await meta(NBD_OPT.SET_META_CONTEXT, ['base:allocation', 'qemu:allocation-depth', 'base:allocation']),
    );
    assert.deepEqual(set, [
      { id: 1, name: 'base:allocation' },
      { id: 2, name: 'qemu:allocation-depth' },
    ]);
    assert.deepEqual(types(await c.option(NBD_OPT.SET_META_CONTEXT, Buffer.from('0000', 'hex'))), [
      NBD_REP.ERR_INVALID,
    ]);
    assert.deepEqual(matchQuery('base:nothing', true), []);
  });

  test('an option over the cap gets ERR_TOO_BIG and the stream stays in sync', async () => {
    const c = await connect();
    await c.hello();
    assert.deepEqual(types(await c.option(NBD_OPT.INFO, Buffer.alloc(100_000))), [NBD_REP.ERR_TOO_BIG]);
    assert.deepEqual(types(await c.option(NBD_OPT.LIST)), [NBD_REP.SERVER, NBD_REP.SERVER, NBD_REP.ACK]);
  });

  test('EXPORT_NAME: size and flags without zeroes; an unknown name drops the connection', async () => {
    const c = await connect();
    await c.hello();
    c.write(encodeOptionRequest(NBD_OPT.EXPORT_NAME, Buffer.from('ro')));
    const r = decodeExportNameReply(await c.read(10));
    assert.equal(r.size, MiB);
    assert.ok(r.flags & NBD_FLAG.READ_ONLY);
    const d = await connect();
    await d.read(18);
    d.write(encodeClientFlags({ fixedNewstyle: true, noZeroes: false }));
    d.write(encodeOptionRequest(NBD_OPT.EXPORT_NAME, Buffer.from('mem')));
    const padded = await d.read(134);
    assert.ok(
      padded.subarray(10).every((b) => b === 0),
      '124 zeroes',
    );
    const e = await connect();
    await e.hello();
    e.write(encodeOptionRequest(NBD_OPT.EXPORT_NAME, Buffer.from('nope')));
    assert.ok(await e.closedWithin(2000));
  });

  test('a client that never finishes the handshake is dropped after the timeout', async () => {
    const c = await connect();
    await c.read(18);
    assert.ok(await c.closedWithin(3000));
  });

  test('connections past the limit are refused', async () => {
    const small = await serve([{ name: 'x', device: new MemoryDevice(MiB) }], { maxConnections: 2 });
    const clients = await Promise.all([RawClient.connect(small.port), RawClient.connect(small.port)]);
    await Promise.all(clients.map((c) => c.hello()));
    const extra = await RawClient.connect(small.port);
    assert.ok(await extra.closedWithin(2000), 'the third is closed');
    for (const c of clients) c.close();
  });
});

test('a client that sends options without reading the replies is not answered past the limit', async () => {
  const s = await serve([{ name: 'x', device: new MemoryDevice(MiB) }], {
    limits: { maxQueuedReplyBytes: 64 * 1024 },
  });
  const c = await RawClient.connect(s.port);
  await c.hello();
  c.socket.pause();
  // 400000 LISTs make 18 MB of replies, more than the socket buffers hold.
  const n = 400_000;
  c.write(Buffer.concat(Array(n).fill(encodeOptionRequest(NBD_OPT.LIST))));
  await new Promise((r) => setTimeout(r, 300));
  const [st] = s.server.stats();
  assert.equal(st?.phase, 'negotiating');
  assert.ok(st.queuedReplyBytes < 256 * 1024, `${st.queuedReplyBytes} reply bytes queued`);
  assert.ok(st.bufferedInputBytes < 256 * 1024, `${st.bufferedInputBytes} request bytes buffered`);
  c.socket.resume();
  // Each LIST: NBD_REP_SERVER for 'x' (20 + 5 bytes), then NBD_REP_ACK (20 bytes).
  const all = await c.read(n * 45);
  assert.deepEqual(decodeOptionReplyHeader(all.subarray(all.length - 20)), {
    option: NBD_OPT.LIST,
    type: NBD_REP.ACK,
    length: 0,
  });
});
