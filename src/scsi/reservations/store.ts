/**
 * Where persistent reservation state lives between restarts: one record per logical unit, keyed
 * by the LU's UUID (the same UUID that names the LU in VPD 83h, so a disk exported through
 * several targets has one record).
 *
 * `FileReservationStore` keeps `<dir>/<uuid>.pr.json` and replaces it atomically and durably on
 * every save: write a temporary file in the same directory, fsync it, rename it over the old one,
 * fsync the directory. After a crash at any point the file is the old state or the new one,
 * never a mixture, and a save that resolved survives power loss. The engine awaits `save` before
 * the PERSISTENT RESERVE OUT command completes.
 *
 * `MemoryReservationStore` keeps the encoded bytes (so tests exercise the codec) and can be told
 * to fail, to test that a failed save changes nothing.
 */
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { decodeState, encodeState, ReservationStateError } from './state-codec.js';
import type { PrState } from './state.js';

export interface ReservationStore {
  /** The saved state of logical unit `uuid`, or undefined when there is none. */
  load(uuid: string): Promise<PrState | undefined>;
  /** Replaces the saved state; resolves once it is durable. */
  save(uuid: string, state: PrState): Promise<void>;
}

const SAFE_UUID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function ioError(what: string, err: unknown): ReservationStateError {
  return new ReservationStateError('IO', `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export class FileReservationStore implements ReservationStore {
  private seq = 0;

  constructor(readonly dir: string) {}

  pathOf(uuid: string): string {
    if (!SAFE_UUID.test(uuid))
      throw new ReservationStateError('IO', `unusable logical unit id ${JSON.stringify(uuid)}`);
    return join(this.dir, `${uuid}.pr.json`);
  }

  async load(uuid: string): Promise<PrState | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.pathOf(uuid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err instanceof ReservationStateError ? err : ioError(`reading ${this.pathOf(uuid)}`, err);
    }
    return decodeState(uuid, bytes);
  }

  async save(uuid: string, state: PrState): Promise<void> {
    const path = this.pathOf(uuid);
    const tmp = `${path}.tmp-${process.pid}-${++this.seq}`;
    const bytes = encodeState(uuid, state);
    try {
      await fs.mkdir(this.dir, { recursive: true });
      const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, path);
      const dh = await fs.open(this.dir, constants.O_RDONLY);
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw ioError(`saving ${path}`, err);
    }
  }
}

export class MemoryReservationStore implements ReservationStore {
  readonly files = new Map<string, Buffer>();
  /** Set to make the next saves fail (a full disk). */
  failSaves = false;
  saves = 0;

  async load(uuid: string): Promise<PrState | undefined> {
    const b = this.files.get(uuid);
    return b ? decodeState(uuid, b) : undefined;
  }

  async save(uuid: string, state: PrState): Promise<void> {
    await Promise.resolve();
    if (this.failSaves) throw new ReservationStateError('IO', 'simulated save failure');
    this.files.set(uuid, encodeState(uuid, state));
    this.saves++;
  }
}
