/**
 * A SCSI target device (SAM-5 §4.6): a LUN map over LogicalUnits and the task router transports
 * call. Several targets may map the same LogicalUnit (a shared disk exported through several
 * targets is one logical unit), so the target keeps no per-LU state of its own: task sets, unit
 * attentions and mode parameters live in the LogicalUnit.
 *
 * - A LUN without a logical unit (SPC-4 §6.4.2, SAM-5 §5.9.5): INQUIRY answers peripheral
 *   qualifier 011b / device type 1Fh, REPORT LUNS works, REQUEST SENSE returns LOGICAL UNIT NOT
 *   SUPPORTED as its data, everything else is CHECK CONDITION with LOGICAL UNIT NOT SUPPORTED,
 *   and task management answers INCORRECT LOGICAL UNIT NUMBER.
 * - addLun/removeLun establish REPORTED LUNS DATA HAS CHANGED for this target's nexuses in the
 *   other logical units (SPC-4 §6.33).
 * - Task management (SAM-5 §7): ABORT TASK and ABORT TASK SET act on the caller's own tasks;
 *   CLEAR TASK SET on every task of the LU, with COMMANDS CLEARED BY ANOTHER INITIATOR for the
 *   other nexuses whose tasks went (TAS = 0); LOGICAL UNIT RESET and the target resets abort every
 *   task and establish BUS DEVICE RESET FUNCTION OCCURRED (warm) or POWER ON OCCURRED (cold) for
 *   every nexus. Each resolves once the affected tasks have ended (block I/O is never cut short).
 * - I_T nexus loss (SAM-5 §6.3.4) aborts the nexus's tasks without responses that matter and
 *   clears its transient state in every LU of the target.
 * - A tag reused while its task is in flight is an overlapped command (SAM-5 §5.10).
 * - The target remembers the ports (relative port -> port group) its nexuses came through, for
 *   REPORT TARGET PORT GROUPS, and publishes every completed command on the diagnostics channel.
 */
import { checkConditionFor } from './check-condition.js';
import type { TargetView } from './commands/command.js';
import { inquiryForMissingLun } from './commands/inquiry.js';
import { reportLunsData } from './commands/report.js';
import { lookupCommand } from './commands/table.js';
import { MAX_LUN } from './data/report-luns.js';
import { runCommand, transferLengthOf } from './dispatch.js';
import { copyTargets, heldResultsOf } from './xcopy/index.js';
import { illegalRequest, ScsiError } from './errors.js';
import type { LogicalUnit } from './logical-unit.js';
import { commandChannel, type ScsiCommandEvent } from './diagnostics.js';
import { decodeSense, encodeSense } from './sense.js';
import { ASC, SenseKey } from './sense-codes.js';
import { Task } from './task-set.js';
import {
  ScsiStatus,
  type ItNexus,
  type ScsiCommand,
  type ScsiResponse,
  type ScsiTaskRouter,
  type TaskManagementRequest,
  type TaskManagementResponse,
} from './task.js';

const INQUIRY = 0x12;
const REQUEST_SENSE = 0x03;
const REPORT_LUNS = 0xa0;

export class ScsiTarget implements ScsiTaskRouter {
  private readonly map = new Map<number, LogicalUnit>();
  /** Target ports seen in nexuses: RELATIVE TARGET PORT IDENTIFIER -> TARGET PORT GROUP. */
  private readonly portGroups = new Map<number, number>();
  private readonly view: TargetView;

  constructor(readonly name: string) {
    this.view = {
      name,
      luns: () => this.luns(),
      ports: () => this.portGroups,
      clearReportedLunsChanged: (nexus) => {
        for (const lu of this.map.values()) lu.nexusState(nexus).ua.clear(ASC.REPORTED_LUNS_DATA_HAS_CHANGED);
      },
    };
  }

  luns(): number[] {
    return [...this.map.keys()].sort((a, b) => a - b);
  }

  getLun(lun: number): LogicalUnit | undefined {
    return this.map.get(lun);
  }

  addLun(lun: number, lu: LogicalUnit): void {
    if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) throw new RangeError(`invalid LUN ${lun}`);
    if (this.map.has(lun)) throw new RangeError(`LUN ${lun} is already mapped`);
    this.map.set(lun, lu);
    copyTargets.add(lu);
    this.lunsChanged(lu);
  }

  /** Unmaps a LUN. Tasks already running on it finish; new commands see no logical unit. */
  removeLun(lun: number): LogicalUnit | undefined {
    const lu = this.map.get(lun);
    if (!lu) return undefined;
    this.map.delete(lun);
    copyTargets.delete(lu);
    this.lunsChanged(undefined);
    return lu;
  }

  private lunsChanged(except: LogicalUnit | undefined): void {
    for (const lu of new Set(this.map.values())) {
      if (lu === except) continue;
      lu.establishUnitAttention(
        ASC.REPORTED_LUNS_DATA_HAS_CHANGED,
        undefined,
        (s) => s.nexus.targetName === this.name,
      );
    }
  }

  async execute(command: ScsiCommand): Promise<ScsiResponse> {
    // Handlers read CDB fields up to byte 15: a shorter CDB is zero-padded once, here.
    const cmd = command.cdb.length >= MIN_CDB_BUFFER ? command : { ...command, cdb: padCdb(command.cdb) };
    const n = cmd.nexus;
    if (this.portGroups.get(n.relativeTargetPortId) !== n.targetPortGroup) {
      this.portGroups.set(n.relativeTargetPortId, n.targetPortGroup);
    }
    const lu = this.map.get(cmd.lun);
    if (!lu) return this.missingLun(cmd);
    const l = lookupCommand(cmd.cdb);
    const transferLength = transferLengthOf(cmd, lu.blockSize, l);
    // An aborted task still finishing its I/O (after nexus loss, say) does not hold its tag.
    const same = lu.taskSet.find(cmd.nexus.key, cmd.tag);
    if (same && !same.aborted) return this.overlapped(lu, cmd, transferLength);
    const name = l.kind === 'found' ? l.entry.name : 'unknown';
    const task = new Task(cmd.nexus, cmd.tag, cmd.attribute, name);
    const started = commandChannel.hasSubscribers ? process.hrtime.bigint() : 0n;
    const admitted = lu.taskSet.enter(task);
    let res: ScsiResponse | undefined;
    try {
      if (admitted) await admitted;
      if (task.aborted) return (res = aborted(transferLength));
      task.started = true;
      res = await runCommand(lu, cmd, this.view, l, transferLength, () => task.aborted);
      if (task.aborted) res = aborted(transferLength);
      return res;
    } finally {
      lu.taskSet.end(task);
      if (started && res) this.publish(cmd, name, res, started);
    }
  }

  private publish(cmd: ScsiCommand, name: string, res: ScsiResponse, started: bigint): void {
    const event: ScsiCommandEvent = {
      target: this.name,
      lun: cmd.lun,
      nexus: cmd.nexus.key,
      command: name,
      status: res.status,
      bytes: res.transferLength,
      durationNs: process.hrtime.bigint() - started,
      aborted: !!res.aborted,
    };
    if (res.sense) {
      const s = decodeSense(res.sense);
      event.senseKey = s.key;
      event.asc = s.asc;
    }
    commandChannel.publish(event);
  }

  /**
   * SAM-5 §5.10 overlapped commands: a new command whose tag is that of a task still in the task
   * set aborts the nexus's tasks in that LU and fails with ABORTED COMMAND / OVERLAPPED COMMANDS
   * ATTEMPTED.
   */
  private async overlapped(lu: LogicalUnit, cmd: ScsiCommand, transferLength: number): Promise<ScsiResponse> {
    await abortAll(
      lu.taskSet.select((t) => t.nexus.key === cmd.nexus.key),
      cmd.nexus,
    );
    return checkConditionFor(
      new ScsiError(SenseKey.ABORTED_COMMAND, ASC.OVERLAPPED_COMMANDS_ATTEMPTED),
      lu.mode.dSense,
      transferLength,
    );
  }

  private missingLun(cmd: ScsiCommand): ScsiResponse {
    const op = cmd.cdb[0];
    try {
      if (op === INQUIRY) {
        const data = inquiryForMissingLun(cmd.cdb);
        const alloc = cmd.cdb.readUInt16BE(3);
        return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, alloc), transferLength: alloc };
      }
      if (op === REPORT_LUNS) {
        const alloc = cmd.cdb.readUInt32BE(6);
        const data = reportLunsData(cmd.cdb, this.luns());
        return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, alloc), transferLength: alloc };
      }
      if (op === REQUEST_SENSE) {
        const alloc = cmd.cdb[4]!;
        const data = encodeSense({
          format: cmd.cdb[1]! & 1 ? 'descriptor' : 'fixed',
          current: true,
          key: SenseKey.ILLEGAL_REQUEST,
          asc: ASC.LOGICAL_UNIT_NOT_SUPPORTED,
        });
        return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, alloc), transferLength: alloc };
      }
      throw illegalRequest(ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    } catch (err) {
      return checkConditionFor(err, false, transferLengthOf(cmd, 512));
    }
  }

  async taskManagement(req: TaskManagementRequest): Promise<TaskManagementResponse> {
    const { nexus, fn } = req;
    if (fn === 'target-warm-reset' || fn === 'target-cold-reset') {
      const asc = fn === 'target-cold-reset' ? ASC.POWER_ON_OCCURRED : ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED;
      const luns = [...new Set(this.map.values())];
      await Promise.all(luns.map((lu) => resetLu(lu, nexus, asc)));
      // A cold reset is a hard reset: the copy manager forgets the copy results it held (its
      // copies were aborted with every other task above).
      if (fn === 'target-cold-reset') for (const lu of luns) heldResultsOf(lu).clear();
      return 'function-complete';
    }
    const lu = this.map.get(req.lun);
    if (!lu) return 'incorrect-lun';
    const mine = (t: Task) => t.nexus.key === nexus.key;
    switch (fn) {
      case 'abort-task': {
        const t = req.referencedTag === undefined ? undefined : lu.taskSet.find(nexus.key, req.referencedTag);
        if (t) await abortAll([t], nexus);
        return 'function-complete';
      }
      case 'abort-task-set':
        await abortAll(lu.taskSet.select(mine), nexus);
        return 'function-complete';
      case 'clear-task-set': {
        const tasks = lu.taskSet.select(() => true);
        const others = new Set(tasks.filter((t) => !mine(t)).map((t) => t.nexus.key));
        await abortAll(tasks, nexus);
        // SAM-5 §7.4 with TAS = 0: the other nexuses learn of it through a unit attention.
        for (const s of lu.knownNexuses()) {
          if (s.connected && others.has(s.nexus.key)) s.ua.add(ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
        }
        return 'function-complete';
      }
      case 'logical-unit-reset':
        await resetLu(lu, nexus, ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
        return 'function-complete';
      case 'query-task': {
        const t = req.referencedTag === undefined ? undefined : lu.taskSet.find(nexus.key, req.referencedTag);
        return t && !t.aborted ? 'function-succeeded' : 'function-complete';
      }
      case 'query-task-set':
        return lu.taskSet.select((t) => mine(t) && !t.aborted).length
          ? 'function-succeeded'
          : 'function-complete';
      case 'query-async-event':
        return lu.nexusState(nexus).ua.length ? 'function-succeeded' : 'function-complete';
      case 'clear-aca':
        // NormACA = 0: there is never an ACA condition to clear.
        return 'function-rejected';
    }
  }

  nexusLost(nexus: ItNexus): void {
    for (const lu of new Set(this.map.values())) {
      for (const t of lu.taskSet.select((x) => x.nexus.key === nexus.key)) t.abort(false);
      lu.nexusLost(nexus);
    }
  }
}

const MIN_CDB_BUFFER = 16;

function padCdb(cdb: Buffer): Buffer {
  const b = Buffer.alloc(MIN_CDB_BUFFER);
  cdb.copy(b);
  return b;
}

function aborted(transferLength: number): ScsiResponse {
  return { status: ScsiStatus.TASK_ABORTED, transferLength, aborted: true };
}

async function abortAll(tasks: Task[], by: ItNexus): Promise<void> {
  for (const t of tasks) t.abort(t.nexus.key !== by.key);
  await Promise.all(tasks.map((t) => t.ended));
}

/** LOGICAL UNIT RESET (SAM-5 §6.3.3): abort every task, wait for them, reset state, raise `asc`. */
async function resetLu(lu: LogicalUnit, by: ItNexus, asc: number): Promise<void> {
  await abortAll(
    lu.taskSet.select(() => true),
    by,
  );
  lu.resetState(asc);
}
