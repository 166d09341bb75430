/**
 * CRC32C (Castagnoli, polynomial 0x1EDC6F41 reflected), the iSCSI header and data digest
 * (RFC 7143 §13.1 "CRC32C"; RFC 3720 Appendix B.4 gives test vectors).
 *
 * The computation is @node-rs/crc32's prebuilt N-API code (SSE4.2 / ARMv8 CRC instructions, with
 * a table fallback), pinned in package.json: a JavaScript table loop runs at a few hundred MB/s,
 * far below what data digests at line rate need.
 *
 * Chaining: `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`, so a digest over data and its pad
 * bytes needs no concatenation. iSCSI sends the 32-bit result least significant byte first
 * (RFC 3720 B.4: 32 zero bytes give the wire bytes aa 36 91 8a, the value 0x8a9136aa).
 */
import { createRequire } from 'node:module';

interface Crc32Binding {
  crc32c(input: Buffer, initialState?: number | null): number;
}

/**
 * Loaded on first use: util is imported by every command, and loading the addon costs a dlopen
 * and a read of /usr/bin/ldd (its glibc/musl check) that only iSCSI digests need.
 */
let binding: Crc32Binding | undefined;

/** CRC32C of `data`, continuing from `previous` (the CRC of the bytes before it) when given. */
export function crc32c(data: Buffer, previous?: number): number {
  const b = (binding ??= createRequire(import.meta.url)('@node-rs/crc32') as Crc32Binding);
  return previous === undefined ? b.crc32c(data) >>> 0 : b.crc32c(data, previous) >>> 0;
}
