import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { type LogEntry, MaaskitError, signLogEntry, verifyLogEntries } from "@maaskit/metering";
import { fsyncDir } from "@maaskit/metering/internal";
import { openStore, type Store } from "@maaskit/metering/storage";
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
  /** Appends a signed entry (committed to the database before it resolves when a file is set). */
  append<P>(type: HistoryEntryType, at: Date, payload: P): Promise<LogEntry<P>>;
  entries(): readonly LogEntry[];
  /** Writes the history as JSON Lines (one signed entry per line) — `maaskit verify` reads it. */
  exportTo(file: string): void;
  /** Waits for pending appends and closes the database (releasing its lock); later appends fail. */
  close(): Promise<void>;
  /** What opening recovered or migrated (a legacy JSON Lines history); `{}` after a clean open. */
  readonly recovery: MaintenanceHistoryRecovery;
}

/** What `openMaintenanceHistory` migrated or set aside (reported, never silent). */
export interface MaintenanceHistoryRecovery {
  /** A torn last line of a legacy JSON Lines history, copied to `file` (`<file>.recovered`). */
  readonly tornTail?: { readonly file: string; readonly bytes: number };
  /** The legacy JSON Lines history migrated into the database, kept under this name. */
  readonly migratedFrom?: { readonly file: string; readonly entries: number };
}

/**
 * A machine's append-only, hash-chained, signed maintenance history: triggers, service
 * requests, every work-order step, parts used and run hours at service. It is the warranty
 * proof and the record a buyer of the used machine can check with `maaskit verify`.
 * With `file`, entries live in a SQLite database there (WAL, `synchronous=FULL`, an
 * exclusive OS lock while open: a second open is `maaskit.storage`'s
 * `maintenance.history.locked`), each one committed before `append` resolves and reloaded
 * and verified at open. A file written by the JSON Lines history of earlier versions is
 * migrated at first open (its torn last line copied to `<file>.recovered`, the old file kept
 * as `<file>.migrated`). `exportTo` writes the JSON Lines form `maaskit verify` reads.
 *
 * @example
 * const history = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file: "history.db" })
 * await history.append("service.performed", at, { serviceType: "oilChange", conditionId: "oil", runHours: "4012" })
 */
export async function openMaintenanceHistory(options: {
  machineId: string;
  signer: Pick<AbstractSigner, "signTypedData" | "getAddress">;
  file?: string;
}): Promise<MaintenanceHistory> {
  const logId = `maintenance/${options.machineId}`;
  const log: LogEntry[] = [];
  let store: Store | undefined;
  let recovery: MaintenanceHistoryRecovery = {};
  if (options.file) {
    const file = options.file;
    mkdirSync(dirname(file), { recursive: true });
    const migrated = `${file}.migrated`;
    if (isJsonLines(file)) {
      // Read and verify before anything moves: a damaged history stays where it is.
      verify(readLegacy(file, false).entries, logId, file);
      renameSync(file, migrated);
      fsyncDir(dirname(file));
    }
    try {
      store = openStore({ file, kind: KIND });
    } catch (err) {
      throw storageToHistory(err, file);
    }
    try {
      const s = store;
      // Migrate when the database holds nothing yet and a moved-aside JSON Lines history is
      // there (also when a migration was interrupted before its commit).
      if (
        s.head().index === -1 &&
        s.getMeta("migratedFrom") === undefined &&
        existsSync(migrated)
      ) {
        const legacy = readLegacy(migrated, true);
        verify(legacy.entries, logId, migrated);
        s.transaction(() => {
          for (const e of legacy.entries) s.append("entry", JSON.stringify(e));
          s.setMeta("migratedFrom", JSON.stringify({ entries: legacy.entries.length }));
        });
        recovery = {
          migratedFrom: { file: migrated, entries: legacy.entries.length },
          ...(legacy.torn === undefined ? {} : { tornTail: legacy.torn }),
        };
      }
      for (const e of s.entries()) log.push(JSON.parse(e.body) as LogEntry);
      verify(log, logId, file);
    } catch (err) {
      store.close();
      throw storageToHistory(err, file);
    }
  }
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    machineId: options.machineId,
    logId,
    recovery,
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
        if (store !== undefined) {
          const s = store;
          try {
            s.transaction(() => s.append("entry", JSON.stringify(entry)));
          } catch (err) {
            throw storageToHistory(err, options.file!);
          }
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
      store?.close();
      store = undefined;
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

const KIND = "maintenance.history/1";

/** A legacy history is JSON Lines (`{` first); a SQLite database starts "SQLite format 3". */
function isJsonLines(file: string): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, "r");
  try {
    const b = Buffer.alloc(1);
    return readSync(fd, b, 0, 1, 0) === 1 && b[0] === 0x7b;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a JSON Lines history; with `copyTorn`, a torn last line (a write cut short) is
 * copied aside to `<file>.recovered` (the migrated file itself is kept as it is).
 */
function readLegacy(
  file: string,
  copyTorn: boolean,
): {
  entries: LogEntry[];
  torn?: { file: string; bytes: number };
} {
  const text = readFileSync(file, "utf8");
  const complete = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1);
  let torn: { file: string; bytes: number } | undefined;
  if (complete.length < text.length && copyTorn) {
    const aside = `${file.replace(/\.migrated$/, "")}.recovered`;
    const fd = openSync(aside, "w");
    const bytes = Buffer.from(text.slice(complete.length), "utf8");
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    torn = { file: aside, bytes: bytes.length };
  }
  const entries: LogEntry[] = [];
  for (const [i, line] of complete.split("\n").entries()) {
    if (!line) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch (err) {
      throw new MaaskitError(
        "maintenance.history.corrupt",
        `maintenance history ${file}: line ${i + 1} is not JSON`,
        { details: { file, line: i + 1 }, cause: err },
      );
    }
  }
  return torn === undefined ? { entries } : { entries, torn };
}

function verify(log: readonly LogEntry[], logId: string, file: string): void {
  const bad = verifyLogEntries(log, { logId }).filter((r) => !r.valid);
  if (bad.length > 0) {
    throw new MaaskitError(
      "maintenance.history.corrupt",
      `maintenance history ${file} does not verify at seq ${bad[0]!.seq}`,
      { details: { file, failures: bad } },
    );
  }
}

function storageToHistory(err: unknown, file: string): unknown {
  const code = (err as { code?: string })?.code;
  if (typeof code !== "string" || !code.startsWith("metering.storage.")) return err;
  const e = err as MaaskitError;
  const mapped =
    code === "metering.storage.locked"
      ? "maintenance.history.locked"
      : code === "metering.storage.corrupt"
        ? "maintenance.history.corrupt"
        : "maintenance.history.unavailable";
  const index = (e.details as { index?: number }).index;
  return new MaaskitError(mapped, e.shortMessage, {
    details: { file, ...(index === undefined ? {} : { entry: index }) },
    cause: err,
  });
}
