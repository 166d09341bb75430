/**
 * Task management (RFC 7143 §11.5-§11.6) mapped onto the SCSI core's taskManagement.
 *
 * - ABORT TASK (§11.5.1): a command the core has not seen yet (still collecting data or waiting
 *   for its CmdSN turn) is dropped here; one the core runs is aborted there. Either way the
 *   aborted command gets no response. A Referenced Task Tag that names no command: "Function
 *   complete" when RefCmdSN is inside the window and before this request's CmdSN (that CmdSN is
 *   then taken as received, so the window moves past it), else "Task does not exist".
 * - ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET WARM/COLD RESET: this session's
 *   commands on the LUN (or all, for target resets) that the core has not seen are dropped, the
 *   ones it runs are marked so that they get no response, and the core aborts its task sets. All
 *   but ABORT TASK SET cross sessions: other sessions' commands the core has not seen are dropped
 *   here, the ones it runs end in the core, without a response either way (TAS=0, SAM-5 §5.6).
 * - QUERY TASK answers "Function succeeded" for a command held here, else asks the core.
 * - TASK REASSIGN needs ErrorRecoveryLevel 2: "Task allegiance reassignment not supported".
 * - I_T NEXUS RESET (RFC 7144 §4.1): the session's commands end and the core sees an I_T nexus
 *   loss for it.
 */
import type { TaskManagementFunction, TaskManagementResponse } from '../scsi/index.js';
import { snLess } from './command-window.js';
import type { CommandIntake } from './command-intake.js';
import { TMF_FUNCTION, TMF_RESPONSE } from './constants.js';
import { decodeLun } from './lun.js';
import type { IntakeHost } from './command-intake.js';
import type { TaskMgmtRequestPdu } from './task-mgmt-request.js';

const CORE_FUNCTION: ReadonlyMap<number, TaskManagementFunction> = new Map([
  [TMF_FUNCTION.ABORT_TASK, 'abort-task'],
  [TMF_FUNCTION.ABORT_TASK_SET, 'abort-task-set'],
  [TMF_FUNCTION.CLEAR_ACA, 'clear-aca'],
  [TMF_FUNCTION.CLEAR_TASK_SET, 'clear-task-set'],
  [TMF_FUNCTION.LOGICAL_UNIT_RESET, 'logical-unit-reset'],
  [TMF_FUNCTION.TARGET_WARM_RESET, 'target-warm-reset'],
  [TMF_FUNCTION.TARGET_COLD_RESET, 'target-cold-reset'],
  [TMF_FUNCTION.QUERY_TASK, 'query-task'],
  [TMF_FUNCTION.QUERY_TASK_SET, 'query-task-set'],
  [TMF_FUNCTION.QUERY_ASYNC_EVENT, 'query-async-event'],
]);

const RESPONSE_CODE: Record<TaskManagementResponse, number> = {
  'function-complete': TMF_RESPONSE.FUNCTION_COMPLETE,
  'function-succeeded': TMF_RESPONSE.FUNCTION_SUCCEEDED,
  'function-rejected': TMF_RESPONSE.FUNCTION_REJECTED,
  'incorrect-lun': TMF_RESPONSE.LUN_DOES_NOT_EXIST,
  'service-delivery-failure': TMF_RESPONSE.FUNCTION_REJECTED,
};

export interface TaskManagementHooks {
  /** I_T NEXUS RESET: the core sees a nexus loss for this session. */
  nexusReset(): void;
  /** Calls `fn` with the commands of every other session of this target. */
  otherSessions(fn: (intake: CommandIntake) => void): void;
}

/** Runs one task management request; resolves to the iSCSI Response code (§11.6.1). */
export async function runTaskManagement(
  req: TaskMgmtRequestPdu,
  intake: CommandIntake,
  host: IntakeHost,
  hooks: TaskManagementHooks,
): Promise<number> {
  const lun = decodeLun(req.lun);
  const window = host.session.window;
  switch (req.function) {
    case TMF_FUNCTION.TASK_REASSIGN:
      return TMF_RESPONSE.REASSIGNMENT_NOT_SUPPORTED;
    case TMF_FUNCTION.I_T_NEXUS_RESET:
      intake.dropUndelivered(() => true);
      for (const t of intake.tasks.values()) t.silent = true;
      hooks.nexusReset();
      return TMF_RESPONSE.FUNCTION_COMPLETE;
    case TMF_FUNCTION.ABORT_TASK: {
      const t = intake.tasks.get(req.referencedTaskTag);
      if (!t) {
        if (window.inWindow(req.refCmdSN) && snLess(req.refCmdSN, req.cmdSN)) {
          window.take(req.refCmdSN, false, () => undefined);
          return TMF_RESPONSE.FUNCTION_COMPLETE;
        }
        return TMF_RESPONSE.TASK_DOES_NOT_EXIST;
      }
      if (t.phase !== 'running') {
        intake.dropUndelivered((x) => x === t);
        return TMF_RESPONSE.FUNCTION_COMPLETE;
      }
      t.silent = true;
      const r = await host.router.taskManagement({
        nexus: host.nexus,
        lun: t.lun,
        fn: 'abort-task',
        referencedTag: t.itt,
      });
      return RESPONSE_CODE[r];
    }
    case TMF_FUNCTION.QUERY_TASK: {
      const t = intake.tasks.get(req.referencedTaskTag);
      if (t && t.phase !== 'running') return TMF_RESPONSE.FUNCTION_SUCCEEDED;
      break;
    }
    case TMF_FUNCTION.ABORT_TASK_SET:
    case TMF_FUNCTION.CLEAR_TASK_SET:
    case TMF_FUNCTION.LOGICAL_UNIT_RESET: {
      intake.dropUndelivered((t) => t.lun === lun);
      for (const t of intake.tasks.values()) if (t.lun === lun) t.silent = true;
      // These cross sessions (SAM-5 §7.4, §7.7): commands of other sessions that the core has
      // not seen yet end too.
      if (req.function !== TMF_FUNCTION.ABORT_TASK_SET)
        hooks.otherSessions((other) => other.dropUndelivered((t) => t.lun === lun));
      break;
    }
    case TMF_FUNCTION.TARGET_WARM_RESET:
    case TMF_FUNCTION.TARGET_COLD_RESET: {
      intake.dropUndelivered(() => true);
      for (const t of intake.tasks.values()) t.silent = true;
      hooks.otherSessions((other) => other.dropUndelivered(() => true));
      break;
    }
  }
  const fn = CORE_FUNCTION.get(req.function);
  if (!fn) return TMF_RESPONSE.FUNCTION_REJECTED;
  const r = await host.router.taskManagement({
    nexus: host.nexus,
    lun,
    fn,
    referencedTag: fn === 'query-task' ? req.referencedTaskTag : undefined,
  });
  return RESPONSE_CODE[r];
}
