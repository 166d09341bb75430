/**
 * iscsi: the iSCSI target transport (RFC 7143) over the SCSI core. Codecs, one per PDU type and
 * for the AHS and the text data segment; the incremental PDU parser and the writer; login with
 * CHAP and the operational key rules; sessions, connections and the server.
 */
export * from './constants.js';
export * from './bhs.js';
export * from './errors.js';
export * from './ahs.js';
export * from './text-keys.js';
export * from './scsi-command.js';
export * from './scsi-response.js';
export * from './task-mgmt-request.js';
export * from './task-mgmt-response.js';
export * from './data-out.js';
export * from './data-in.js';
export * from './r2t.js';
export * from './nop-out.js';
export * from './nop-in.js';
export * from './login-request.js';
export * from './login-response.js';
export * from './text-request.js';
export * from './text-response.js';
export * from './logout-request.js';
export * from './logout-response.js';
export * from './reject.js';
export * from './async-message.js';
export * from './snack.js';
export * from './lun.js';
export * from './pdu-parser.js';
export * from './pdu-writer.js';
export * from './operational-keys.js';
export * from './chap.js';
export * from './login.js';
export * from './target.js';
export * from './session.js';
export * from './command-window.js';
export * from './command-task.js';
export * from './send-targets.js';
export * from './text-exchange.js';
export * from './transport-sense.js';
export * from './requests.js';
export * from './liveness.js';
export * from './connection-context.js';
export * from './connection.js';
export * from './server.js';
