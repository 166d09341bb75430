/**
 * NBD_OPT_STARTTLS with X.509 certificates and with pre-shared keys, through libnbd (nbdinfo,
 * nbdcopy) and QEMU (qemu-img --image-opts with tls-creds-x509 / tls-creds-psk objects); the
 * FORCEDTLS rules for a plaintext client; a failed handshake costs only that connection.
 * Certificates are made for the test with openssl (a CA, and a server certificate for 127.0.0.1).
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryDevice } from '../../src/block/index.js';
import {
  ExportTable,
  NBD_OPT,
  NBD_REP,
  NbdExport,
  Negotiation,
  encodeInfoRequest,
  encodeOptionRequest,
  loadX509Dir,
  parsePskFile,
  tlsUpgrader,
} from '../../src/nbd/index.js';
import { pattern, runTool } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, RawClient, run, serve, skipWithout } from './helpers.js';

const MiB = 1024 * 1024;
const skip = await skipWithout('openssl', 'nbdinfo', 'nbdcopy', 'qemu-img');

/** A CA and a server certificate for 127.0.0.1 in qemu's layout; the client dir has the CA only. */
function makeCredentials(dir: string): { server: string; client: string } {
  const server = path.join(dir, 'server');
  const client = path.join(dir, 'client');
  fs.mkdirSync(server);
  fs.mkdirSync(client);
  const ok = (args: string[]): void => {
    const r = runTool('openssl', args);
    assert.equal(r.status, 0, `${r.cmd}\n${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const caKey = path.join(dir, 'ca-key.pem');
  const ca = path.join(server, 'ca-cert.pem');
  ok(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=vdisk test CA', '-keyout', caKey, '-out', ca]);
  const csr = path.join(dir, 'server.csr');
  ok(['req', ...ec, '-subj', '/CN=localhost', '-keyout', path.join(server, 'server-key.pem'), '-out', csr]);
  const ext = path.join(dir, 'ext.cnf');
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ok([
    'x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2',
    '-extfile', ext, '-out', path.join(server, 'server-cert.pem'),
  ]); // prettier-ignore
  fs.copyFileSync(ca, path.join(client, 'ca-cert.pem'));
  return { server, client };
}

describe('NBD over TLS', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-nbd-tls-');
  const creds = makeCredentials(dir);
  const pskDir = path.join(dir, 'psk');
  fs.mkdirSync(pskDir);
  const pskFile = path.join(pskDir, 'keys.psk'); // qemu's tls-creds-psk reads DIR/keys.psk
  fs.writeFileSync(pskFile, `alice:${pattern(32, 4).toString('hex')}\n`);
  const device = new MemoryDevice(8 * MiB);
  await device.write(MiB, pattern(MiB, 8));
  const s = await serve([{ name: 'disk', device }], {
    startTls: tlsUpgrader({
      x509: loadX509Dir(creds.server),
      psk: parsePskFile(fs.readFileSync(pskFile, 'utf8')),
    }),
    log: () => {},
  });
  const x509Uri = `nbds://127.0.0.1:${s.port}/disk?tls-certificates=${creds.client}`;
  const pskUri = `nbds://alice@127.0.0.1:${s.port}/disk?tls-psk-file=${pskFile}`;

  test('nbdinfo and nbdcopy with certificates and with a pre-shared key', async () => {
    for (const uri of [x509Uri, pskUri]) {
      const r = await run('nbdinfo', ['--json', uri]);
      assert.equal(r.status, 0, describeRun(r));
      const info = JSON.parse(r.stdout) as { TLS: boolean; exports: { 'export-size': number }[] };
      assert.equal(info.TLS, true);
      assert.equal(info.exports[0]!['export-size'], 8 * MiB);
    }
    const out = path.join(dir, 'copy.raw');
    const r = await run('nbdcopy', [pskUri, out]);
    assert.equal(r.status, 0, describeRun(r));
    const want = Buffer.alloc(8 * MiB);
    await device.read(0, want);
    assert.ok(fs.readFileSync(out).equals(want));
  });

  test('qemu-img --image-opts with tls-creds-x509 and tls-creds-psk', async () => {
    const opts = `driver=nbd,host=127.0.0.1,port=${s.port},export=disk,tls-creds=tls0`;
    for (const object of [
      `tls-creds-x509,id=tls0,dir=${creds.client},endpoint=client`,
      `tls-creds-psk,id=tls0,dir=${pskDir},endpoint=client,username=alice`,
    ]) {
      const out = path.join(dir, 'qemu-copy.qcow2');
      const r = await run('qemu-img', [
        'convert',
        '--object',
        object,
        '--image-opts',
        opts,
        '-O',
        'qcow2',
        out,
      ]);
      assert.equal(r.status, 0, describeRun(r));
      // With --image-opts, both images are option strings.
      const local = `driver=qcow2,file.filename=${out}`;
      const c = await run('qemu-img', ['compare', '--object', object, '--image-opts', opts, local]);
      assert.equal(c.status, 0, describeRun(c));
      fs.rmSync(out);
    }
  });

  test('plaintext clients get NBD_REP_ERR_TLS_REQD; EXPORT_NAME without TLS is dropped', async () => {
    const c = await RawClient.connect(s.port);
    await c.hello();
    for (const opt of [NBD_OPT.LIST, NBD_OPT.STRUCTURED_REPLY, 42]) {
      assert.deepEqual(
        (await c.option(opt)).map((r) => r.type),
        [NBD_REP.ERR_TLS_REQD],
      );
    }
    const go = await c.option(NBD_OPT.GO, encodeInfoRequest({ name: 'disk', requests: [] }));
    assert.deepEqual(
      go.map((r) => r.type),
      [NBD_REP.ERR_TLS_REQD],
    );
    c.write(encodeOptionRequest(NBD_OPT.EXPORT_NAME, Buffer.from('disk')));
    assert.ok(await c.closedWithin(2000));
  });

  test('a failed handshake (an unknown PSK identity) drops only that connection', async () => {
    const badPsk = path.join(dir, 'bad.psk');
    fs.writeFileSync(badPsk, `mallory:${pattern(32, 5).toString('hex')}\n`);
    const r = await run('nbdinfo', [`nbds://mallory@127.0.0.1:${s.port}/disk?tls-psk-file=${badPsk}`]);
    assert.notEqual(r.status, 0, describeRun(r));
    const ok = await run('nbdinfo', ['--size', pskUri]);
    assert.equal(ok.stdout.trim(), String(8 * MiB), describeRun(ok));
  });

  after(() => device.close());
});

test('after STARTTLS, the negotiation starts over and a second STARTTLS is invalid', () => {
  const n = new Negotiation(new ExportTable([new NbdExport({ name: 'd', device: new MemoryDevice(4096) })]), {
    tls: true,
  });
  n.handle({ kind: 'client-flags', flags: { fixedNewstyle: true, noZeroes: true, raw: 3 } });
  assert.equal(
    n.handle({ kind: 'option', option: NBD_OPT.STARTTLS, data: Buffer.from('x') }).next,
    'continue',
  );
  assert.equal(
    n.handle({ kind: 'option', option: NBD_OPT.STARTTLS, data: Buffer.alloc(0) }).next,
    'starttls',
  );
  n.tlsStarted();
  const again = n.handle({ kind: 'option', option: NBD_OPT.STARTTLS, data: Buffer.alloc(0) });
  assert.equal(again.replies[0]!.readUInt32BE(12), NBD_REP.ERR_INVALID);
  const list = n.handle({ kind: 'option', option: NBD_OPT.LIST, data: Buffer.alloc(0) });
  assert.equal(list.replies[list.replies.length - 1]!.readUInt32BE(12), NBD_REP.ACK);
});

test('PSK files: identity:hexkey lines', () => {
  const keys = parsePskFile('# comment\nalice:0011ff\nbob:c0de:beef:abcd\n\n');
  assert.deepEqual([...keys.keys()], ['alice', 'bob:c0de:beef']);
  assert.deepEqual(keys.get('alice'), Buffer.from('0011ff', 'hex'));
  assert.throws(() => parsePskFile('alice:xyz'), /identity:hexkey/);
  assert.throws(() => parsePskFile('\n'), /no keys/);
});
