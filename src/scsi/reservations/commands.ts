/**
 * The command table entries of reservations (SPC-4 §6.15 PERSISTENT RESERVE IN, §6.16 PERSISTENT
 * RESERVE OUT, SPC-2 §7.21/§7.22 RESERVE and RELEASE (6) and (10)), in the shape of
 * commands/table.ts, for the core to add to COMMANDS. They are offered only by a logical unit whose
 * `reservations` is a PersistentReservations engine; elsewhere the opcodes stay INVALID COMMAND
 * OPERATION CODE.
 *
 * PERSISTENT RESERVE IN and OUT have one entry per service action (so an unknown one is INVALID
 * FIELD IN CDB from the dispatcher, and REPORT SUPPORTED OPERATION CODES lists each); all share the
 * command names 'PERSISTENT RESERVE IN' / 'PERSISTENT RESERVE OUT' that conflicts.ts keys on.
 *
 * The PERSISTENT RESERVE OUT handler is where the core's per-LU state meets the engine's result:
 * unit attentions are established in the LU's per-nexus queues, and PREEMPT AND ABORT aborts the
 * tasks of the preempted I_T nexuses (all but the PROUT itself) and waits for them to end before
 * completing (SPC-4 §5.13.11.2.6, SAM-5 §7.1).
 */
import type { CommandContext, CommandEntry, CommandResult } from '../commands/command.js';
import { parameterListLengthError } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { ScsiStatus } from '../task.js';
import { abortsNexus, PersistentReservations, unitAttentionDeliveries } from './engine.js';
import { PrinAction, ProutAction } from './pr-types.js';

const QUICK = { nominal: 0, recommended: 10 };
const FF4 = [0xff, 0xff, 0xff, 0xff];

export const PERSISTENT_RESERVE_IN = 0x5e;
export const PERSISTENT_RESERVE_OUT = 0x5f;
export const RESERVE6 = 0x16;
export const RELEASE6 = 0x17;
export const RESERVE10 = 0x56;
export const RELEASE10 = 0x57;

/** The engine of `lu`; the entries' `available` guarantees there is one. */
function engineOf(lu: LogicalUnit): PersistentReservations {
  const pr = lu.reservations;
  if (!(pr instanceof PersistentReservations))
    throw new Error('logical unit without persistent reservations');
  return pr;
}

const hasEngine = (lu: LogicalUnit): boolean => lu.reservations instanceof PersistentReservations;

const conflictResult = (): CommandResult => ({ status: ScsiStatus.RESERVATION_CONFLICT });

async function persistentReserveIn(ctx: CommandContext): Promise<CommandResult> {
  return { dataIn: engineOf(ctx.lu).prin(ctx.nexus, ctx.cdb) };
}

async function persistentReserveOut(ctx: CommandContext): Promise<CommandResult> {
  const pr = engineOf(ctx.lu);
  const length = ctx.cdb.readUInt32BE(5);
  const data = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (data.length < length) throw parameterListLengthError();
  const result = await pr.prout(ctx.nexus, ctx.cdb, data.subarray(0, length));
  if (result.kind === 'conflict') return conflictResult();
  const known = ctx.lu.knownNexuses();
  const byKey = new Map(known.map((s) => [s.nexus.key, s]));
  for (const d of unitAttentionDeliveries(
    result,
    known.map((s) => s.nexus),
    ctx.nexus,
  )) {
    byKey.get(d.nexusKey)?.ua.add(d.asc);
  }
  if (result.abort.length > 0) {
    const victims = ctx.lu.taskSet.select(
      (t) => abortsNexus(result, t.nexus) && !(t.nexus.key === ctx.nexus.key && t.tag === ctx.cmd.tag),
    );
    for (const t of victims) t.abort(t.nexus.key !== ctx.nexus.key);
    await Promise.all(victims.map((t) => t.ended));
  }
  return {};
}

async function reserve(ctx: CommandContext): Promise<CommandResult> {
  return (await engineOf(ctx.lu).reserve(ctx.nexus)) === 'good' ? {} : conflictResult();
}

async function release(ctx: CommandContext): Promise<CommandResult> {
  return (await engineOf(ctx.lu).release(ctx.nexus)) === 'good' ? {} : conflictResult();
}

const prinEntry = (sa: number): CommandEntry => ({
  name: 'PERSISTENT RESERVE IN',
  opcode: PERSISTENT_RESERVE_IN,
  serviceAction: sa,
  cdbLength: 10,
  usage: [PERSISTENT_RESERVE_IN, sa, 0, 0, 0, 0, 0, 0xff, 0xff, 0],
  direction: 'in',
  dataLength: (cdb) => cdb.readUInt16BE(7),
  timeout: QUICK,
  available: hasEngine,
  handler: persistentReserveIn,
});

const proutEntry = (sa: number): CommandEntry => ({
  name: 'PERSISTENT RESERVE OUT',
  opcode: PERSISTENT_RESERVE_OUT,
  serviceAction: sa,
  cdbLength: 10,
  // Byte 2 (SCOPE, TYPE) is evaluated or ignored depending on the service action, never reserved.
  usage: [PERSISTENT_RESERVE_OUT, sa, 0xff, 0, 0, ...FF4, 0],
  direction: 'out',
  dataLength: (cdb) => cdb.readUInt32BE(5),
  timeout: QUICK,
  available: hasEngine,
  handler: persistentReserveOut,
});

const spc2Entry = (
  name: string,
  opcode: number,
  cdbLength: 6 | 10,
  handler: CommandEntry['handler'],
): CommandEntry => ({
  name,
  opcode,
  cdbLength,
  // 3RDPTY, LONGID and the extent bits are not supported: any of them is INVALID FIELD IN CDB.
  usage: [opcode, ...new Array<number>(cdbLength - 1).fill(0)],
  direction: 'none',
  dataLength: () => 0,
  timeout: QUICK,
  available: hasEngine,
  handler,
});

/** Every reservation command, in opcode order. */
export const RESERVATION_COMMANDS: readonly CommandEntry[] = [
  spc2Entry('RESERVE (6)', RESERVE6, 6, reserve),
  spc2Entry('RELEASE (6)', RELEASE6, 6, release),
  spc2Entry('RESERVE (10)', RESERVE10, 10, reserve),
  spc2Entry('RELEASE (10)', RELEASE10, 10, release),
  ...Object.values(PrinAction).map(prinEntry),
  ...Object.values(ProutAction).map(proutEntry),
];
