/**
 * TLS for NBD_OPT_STARTTLS (proto.md "TLS support"), through node:tls.
 *
 * Two kinds of credentials, laid out as qemu and nbdkit lay them out:
 * - X.509: a directory with `server-cert.pem` and `server-key.pem`, and optionally `ca-cert.pem`
 *   (sent along as the chain). Client certificates are not asked for.
 * - PSK: a file of `identity:hexkey` lines, as psktool writes them (qemu's keys.psk, nbdkit's
 *   --tls-psk, libnbd's tls-psk-file).
 *
 * "NBD implementations supporting TLS MUST support TLS version 1.2": the minimum is 1.2. Node's PSK
 * callback works with TLS 1.2 PSK cipher suites only, so a server with pre-shared keys offers TLS
 * 1.2 (to certificate clients too: the client's offer picks certificate or PSK suites); a server
 * with certificates only offers 1.3 as well.
 *
 * The upgrade is a TLSSocket wrapped around the connection's socket right after the server sent
 * NBD_REP_ACK; the client starts the handshake. It resolves once the handshake is done.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

export interface NbdTlsConfig {
  x509?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** PSK identities and their keys. */
  psk?: Map<string, Buffer>;
}

/** Reads qemu's X.509 credential directory (server-cert.pem, server-key.pem, ca-cert.pem). */
export function loadX509Dir(dir: string): NonNullable<NbdTlsConfig['x509']> {
  const read = (name: string, required: boolean): Buffer | undefined => {
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) {
      if (required) throw new Error(`TLS credentials: ${p} is missing`);
      return undefined;
    }
    return fs.readFileSync(p);
  };
  return {
    cert: read('server-cert.pem', true)!,
    key: read('server-key.pem', true)!,
    ca: read('ca-cert.pem', false),
  };
}

/** Parses a psktool key file: one `identity:hexkey` per line. */
export function parsePskFile(text: string, what = 'PSK file'): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.lastIndexOf(':');
    const id = line.slice(0, colon);
    const hex = line.slice(colon + 1);
    if (colon <= 0 || !/^([0-9a-fA-F]{2})+$/.test(hex)) {
      throw new Error(`${what}, line ${i + 1}: expected identity:hexkey`);
    }
    keys.set(id, Buffer.from(hex, 'hex'));
  }
  if (keys.size === 0) throw new Error(`${what} holds no keys`);
  return keys;
}

/** TLS 1.2 PSK cipher suites OpenSSL and GnuTLS (libnbd, qemu) have in common. */
const PSK_CIPHERS = [
  'ECDHE-PSK-AES256-CBC-SHA384',
  'ECDHE-PSK-AES128-CBC-SHA256',
  'DHE-PSK-AES256-GCM-SHA384',
  'DHE-PSK-AES128-GCM-SHA256',
  'PSK-AES256-GCM-SHA384',
  'PSK-AES128-GCM-SHA256',
].join(':');

/** Returns the function that upgrades a connection's socket to TLS. */
export function tlsUpgrader(cfg: NbdTlsConfig): (socket: net.Socket) => Promise<net.Socket> {
  if (!cfg.x509 && !cfg.psk) throw new Error('TLS needs certificates or pre-shared keys');
  const psk = cfg.psk;
  const x509 = cfg.x509;
  // Node's default list ends with !PSK, which would remove the PSK suites wherever they stand.
  const certCiphers = tls.DEFAULT_CIPHERS.split(':')
    .filter((c) => c !== '!PSK')
    .join(':');
  const ciphers = [psk ? PSK_CIPHERS : '', x509 ? certCiphers : ''].filter(Boolean).join(':');
  const secureContext = tls.createSecureContext({
    minVersion: 'TLSv1.2',
    maxVersion: psk ? 'TLSv1.2' : 'TLSv1.3',
    ciphers,
    ...(x509 ? { cert: x509.ca ? Buffer.concat([x509.cert, x509.ca]) : x509.cert, key: x509.key } : {}),
  });
  return (raw) =>
    new Promise((resolve, reject) => {
      const t = new tls.TLSSocket(raw, {
        isServer: true,
        secureContext,
        ...(psk ? { pskCallback: (_s: tls.TLSSocket, identity: string) => psk.get(identity) ?? null } : {}),
      } as tls.TLSSocketOptions);
      const fail = (err: unknown): void => {
        t.destroy();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      t.once('secure', () => {
        t.off('error', fail);
        t.off('close', onClose);
        resolve(t);
      });
      const onClose = (): void => fail(new Error('the connection closed during the TLS handshake'));
      t.once('error', fail);
      t.once('close', onClose);
    });
}
