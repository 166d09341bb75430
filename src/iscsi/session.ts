/**
 * An iSCSI session (RFC 7143 §4.2.7.4): the I_T nexus between one initiator port (InitiatorName +
 * ISID) and one target port (TargetName + TPGT), identified on the target by its TSIH.
 *
 * vdisk negotiates MaxConnections=1, so a session has exactly one connection; the session holds
 * what outlives a PDU: the nexus the SCSI core keys its per-nexus state by, the negotiated
 * parameters, and the command window. The registry in server.ts finds sessions by TSIH (a
 * connection joining or reinstating a session) and by initiator port + target port (session
 * reinstatement, §6.3.5: a login with TSIH 0 and the ISID of a live session closes that session).
 */
import type { ItNexus } from '../scsi/index.js';
import { CommandWindow } from './command-window.js';
import type { SessionType } from './login.js';
import type { OperationalParams } from './operational-keys.js';
import type { IscsiTarget } from './target.js';

/** SPC-4 Table 362: the protocol identifier of iSCSI. */
export const ISCSI_PROTOCOL_ID = 5;

export function isidHex(isid: number): string {
  return isid.toString(16).padStart(12, '0');
}

/** The SCSI initiator and target port names of RFC 7143 §4.2.7.4 / SPC-4 TransportID. */
export function makeNexus(initiatorName: string, isid: number, target: IscsiTarget): ItNexus {
  const initiatorPort = `${initiatorName},i,0x${isidHex(isid)}`;
  const targetPort = `${target.name},t,0x${target.tpgt.toString(16).padStart(4, '0')}`;
  return {
    key: `${initiatorPort}|${targetPort}`,
    initiatorName,
    initiatorPort,
    targetName: target.name,
    targetPort,
    relativeTargetPortId: target.tpgt,
    targetPortGroup: target.tpgt,
    protocolId: ISCSI_PROTOCOL_ID,
  };
}

export class Session {
  readonly window: CommandWindow;
  /** Set when the session ends (logout, drop, reinstatement): no more commands go to the core. */
  ended = false;

  constructor(
    readonly tsih: number,
    readonly type: SessionType,
    readonly initiatorName: string,
    readonly isid: number,
    readonly target: IscsiTarget | undefined,
    readonly nexus: ItNexus | undefined,
    readonly params: OperationalParams,
    firstCmdSN: number,
    windowSize: number,
  ) {
    this.window = new CommandWindow(firstCmdSN, windowSize);
  }

  /** The key sessions are reinstated by: initiator port and target port. */
  get portKey(): string {
    return sessionPortKey(this.initiatorName, this.isid, this.target);
  }
}

export function sessionPortKey(initiatorName: string, isid: number, target: IscsiTarget | undefined): string {
  return `${initiatorName.toLowerCase()}|${isidHex(isid)}|${target ? `${target.name}|${target.tpgt}` : 'discovery'}`;
}
