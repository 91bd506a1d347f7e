import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { type LogEntry, MaaskitError, signLogEntry, verifyLogEntries } from "@maaskit/metering";
import type { AbstractSigner } from "ethers";

/** Entry types of a machine's maintenance history. */
export type HistoryEntryType =
  | "trigger"
  | "serviceRequest"
  | "workOrder.opened"
  | "workOrder.funded"
  | "workOrder.accepted"
  | "workOrder.completed"
  | "workOrder.confirmed"
  | "workOrder.paid"
  | "workOrder.expired"
  | "workOrder.disputed"
  | "workOrder.resolved"
  | "workOrder.cancelled"
  | "service.performed"
  | (string & {});

/** Payload of a `service.performed` entry: what a warranty check reads. */
export interface ServicePerformedPayload {
  readonly serviceType: string;
  readonly conditionId: string;
  readonly workOrderId?: string;
  /** Run hours at service (decimal string). */
  readonly runHours?: string;
  readonly loadedHours?: string;
  readonly partsUsed?: readonly string[];
  readonly provider?: string;
}

export interface MaintenanceHistory {
  readonly machineId: string;
  readonly logId: string;
  /** Appends a signed entry (durable on disk before it resolves when a file is set). */
  append<P>(type: HistoryEntryType, at: Date, payload: P): Promise<LogEntry<P>>;
  entries(): readonly LogEntry[];
  /** Writes the history as JSON Lines (one signed entry per line) — `maaskit verify` reads it. */
  exportTo(file: string): void;
  /** Waits for pending appends and closes the file; later appends fail. */
  close(): Promise<void>;
}

/**
 * A machine's append-only, hash-chained, signed maintenance history: triggers, service
 * requests, every work-order step, parts used and run hours at service. It is the warranty
 * proof and the record a buyer of the used machine can check with `maaskit verify`.
 * With `file`, entries are appended as JSON Lines with fsync and reloaded (and verified)
 * at open; a torn last line from a crash is moved aside to `<file>.torn-<n>`, never lost.
 *
 * @example
 * const history = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file: "history.jsonl" })
 * await history.append("service.performed", at, { serviceType: "oilChange", conditionId: "oil", runHours: "4012" })
 */
export async function openMaintenanceHistory(options: {
  machineId: string;
  signer: Pick<AbstractSigner, "signTypedData" | "getAddress">;
  file?: string;
}): Promise<MaintenanceHistory> {
  const logId = `maintenance/${options.machineId}`;
  const log: LogEntry[] = [];
  if (options.file && existsSync(options.file)) {
    const text = readFileSync(options.file, "utf8");
    const complete = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1);
    if (complete.length < text.length) {
      const torn = `${options.file}.torn-${Date.now()}`;
      const fd = openSync(torn, "wx");
      writeSync(fd, text.slice(complete.length));
      fsyncSync(fd);
      closeSync(fd);
      const tmp = `${options.file}.tmp`;
      const t = openSync(tmp, "w");
      writeSync(t, complete);
      fsyncSync(t);
      closeSync(t);
      renameSync(tmp, options.file);
    }
    for (const line of complete.split("\n")) if (line) log.push(JSON.parse(line) as LogEntry);
    const bad = verifyLogEntries(log, { logId }).filter((r) => !r.valid);
    if (bad.length > 0) {
      throw new MaaskitError(
        "maintenance.history.corrupt",
        `maintenance history ${options.file} does not verify at seq ${bad[0]!.seq}`,
        { details: { file: options.file, failures: bad } },
      );
    }
  }
  let fd: number | undefined;
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    fd = openSync(options.file, "a");
  }
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    machineId: options.machineId,
    logId,
    append(type, at, payload) {
      if (closed) {
        return Promise.reject(
          new MaaskitError("maintenance.history.closed", `maintenance history ${logId} is closed`),
        );
      }
      const next = queue.then(async () => {
        const entry = await signLogEntry(
          { logId, type, at, payload, head: log[log.length - 1] },
          options.signer,
        );
        if (fd !== undefined) {
          writeSync(fd, `${JSON.stringify(entry)}\n`);
          fsyncSync(fd);
        }
        log.push(entry);
        return entry;
      });
      queue = next.catch(() => undefined);
      return next;
    },
    entries: () => log,
    async close() {
      await queue;
      if (fd !== undefined) {
        closeSync(fd);
        fd = undefined;
      }
      closed = true;
    },
    exportTo(file) {
      mkdirSync(dirname(file), { recursive: true });
      const out = openSync(file, "w");
      writeSync(out, log.map((e) => `${JSON.stringify(e)}\n`).join(""));
      fsyncSync(out);
      closeSync(out);
    },
  };
}
