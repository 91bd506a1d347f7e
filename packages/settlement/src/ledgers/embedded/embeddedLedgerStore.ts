// The embedded ledger's storage: how applied commands, the state they leave, accepted records
// and events are written to and restored from the SQLite store, the full re-check
// (`verify()`), the migration of a file-based log, and the mapping of storage errors.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  encodeMeterRecord,
  isMaaskitError,
  meterRecordFromJson,
  meterRecordToJson,
} from "@maaskit/metering";
import { renameAside } from "@maaskit/metering/internal";
import type { Store } from "@maaskit/metering/storage";
import { type LedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import {
  type AcceptedRecord,
  type AcceptedRecords,
  type Command,
  LedgerCore,
  type Outcome,
} from "../../rules/index.js";
import { readLegacyLog } from "./appendLog.js";
import type { EmbeddedLedgerRecovery } from "./embeddedLedger.js";
import { decodeState, encodeState } from "./stateCodec.js";

/** One chain entry: the command, the instant it was applied at, and the saved state it left. */
export interface LogEntry {
  v: 1;
  at: string;
  cmd: Command;
  /** sha256 of each saved state row this command left (`agreement:<id>`, `workOrder:<id>`). */
  state?: Record<string, string>;
}

/** The agreements and work orders a command changes (every one when it cannot tell). */
function touched(cmd: Command, c: LedgerCore): Array<["agreement" | "workOrder", string]> {
  const j = cmd as unknown as Record<string, Record<string, unknown> | string | undefined>;
  const agreementId =
    typeof j.agreementId === "string"
      ? j.agreementId
      : ((j.agreement as Record<string, unknown> | undefined)?.agreementId ??
        (j.statement as Record<string, unknown> | undefined)?.agreementId);
  const workOrderId =
    typeof j.workOrderId === "string"
      ? j.workOrderId
      : (j.terms as Record<string, unknown> | undefined)?.workOrderId;
  const out: Array<["agreement" | "workOrder", string]> = [];
  if (typeof agreementId === "string" && c.agreements.has(agreementId)) {
    out.push(["agreement", agreementId]);
  }
  if (typeof workOrderId === "string" && c.workOrders.has(workOrderId)) {
    out.push(["workOrder", workOrderId]);
  }
  if (out.length > 0) return out;
  return [
    ...[...c.agreements.keys()].map((id) => ["agreement", id] as ["agreement", string]),
    ...[...c.workOrders.keys()].map((id) => ["workOrder", id] as ["workOrder", string]),
  ];
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const prepared = new WeakMap<Store, ReturnType<typeof prepare>>();

function prepare(s: Store) {
  return {
    agreement: s.db.prepare(
      "INSERT INTO agreements (id, entry, state) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET entry = excluded.entry, state = excluded.state",
    ),
    workOrder: s.db.prepare(
      "INSERT INTO work_orders (id, entry, state) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET entry = excluded.entry, state = excluded.state",
    ),
    event: s.db.prepare("INSERT INTO events (entry, body) VALUES (?, ?)"),
  };
}

/** The write statements of a store, prepared once. */
function statements(s: Store): ReturnType<typeof prepare> {
  let p = prepared.get(s);
  if (p === undefined) {
    p = prepare(s);
    prepared.set(s, p);
  }
  return p;
}

/** Writes one applied command: its chain entry, the state it left and its events. */
export function commit(s: Store, c: LedgerCore, cmd: Command, at: Date, out: Outcome): void {
  const rows = touched(cmd, c).map(([kind, id]) => {
    const text = encodeState(c.saveState(kind, id));
    return { kind, id, text };
  });
  const state: Record<string, string> = {};
  for (const r of rows) state[`${r.kind}:${r.id}`] = sha256(r.text);
  const entry: LogEntry = { v: 1, at: at.toISOString(), cmd, state };
  const { index } = s.append("command", JSON.stringify(entry));
  const put = statements(s);
  for (const r of rows) put[r.kind].run(r.id, index, r.text);
  const ev = put.event;
  for (const e of out.events) ev.run(index, JSON.stringify(e));
}

/**
 * Restores the saved state. Each state row must hash to what the chain entry that last
 * wrote it recorded, so a row edited behind the ledger's back is refused.
 */
export function restore(s: Store, c: LedgerCore): void {
  const entryAt = s.db.prepare("SELECT body FROM chain WHERE idx = ?").pluck();
  const check = (kind: string, id: string, entry: number, text: string) => {
    const body = entryAt.get(entry) as string | undefined;
    let recorded: string | undefined;
    try {
      recorded = (JSON.parse(body ?? "null") as LogEntry | null)?.state?.[`${kind}:${id}`];
    } catch {
      recorded = undefined;
    }
    if (recorded !== sha256(text)) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of ${kind} ${id} is not the one entry ${entry} left`,
        { entry, [kind === "agreement" ? "agreementId" : "workOrderId"]: id },
      );
    }
  };
  for (const row of s.db.prepare("SELECT id, entry, state FROM agreements").iterate() as Iterable<{
    id: string;
    entry: number;
    state: string;
  }>) {
    check("agreement", row.id, row.entry, row.state);
    c.restoreState("agreement", decodeState(row.state));
  }
  for (const row of s.db.prepare("SELECT id, entry, state FROM work_orders").iterate() as Iterable<{
    id: string;
    entry: number;
    state: string;
  }>) {
    check("workOrder", row.id, row.entry, row.state);
    c.restoreState("workOrder", decodeState(row.state));
  }
}

/**
 * Accepted records in the `records` table. A row read back must still encode to its
 * digest and chain to its neighbours, so an edited record is refused, not billed.
 */
export function sqliteRecords(s: Store): (agreementId: string) => AcceptedRecords {
  const one = s.db.prepare("SELECT digest, record FROM records WHERE agreement = ? AND seq = ?");
  const insert = s.db.prepare(
    "INSERT INTO records (agreement, seq, period_start, period_end, digest, record) VALUES (?,?,?,?,?,?)",
  );
  const overlapping = s.db.prepare(
    "SELECT digest, record FROM records WHERE agreement = ? AND period_start < ? AND period_end > ? ORDER BY seq",
  );
  const decode = (agreementId: string, row: { digest: string; record: string }): AcceptedRecord => {
    const record = meterRecordFromJson(JSON.parse(row.record));
    if (encodeMeterRecord(record).digest !== row.digest || record.agreementId !== agreementId) {
      throw ledgerError("settlement.ledger.corrupt", "A stored record does not match its digest", {
        agreementId,
        seq: record.seq,
      });
    }
    return { record, digest: row.digest };
  };
  return (agreementId) => ({
    get(seq) {
      const row = one.get(agreementId, seq) as { digest: string; record: string } | undefined;
      return row === undefined ? undefined : decode(agreementId, row);
    },
    set(seq, a) {
      insert.run(
        agreementId,
        seq,
        a.record.periodStart.getTime(),
        a.record.periodEnd.getTime(),
        a.digest,
        JSON.stringify(meterRecordToJson(a.record)),
      );
    },
    overlapping(start, end) {
      const rows = overlapping.all(agreementId, end.getTime(), start.getTime()) as Array<{
        digest: string;
        record: string;
      }>;
      const out = rows.map((r) => decode(agreementId, r));
      for (let i = 1; i < out.length; i++) {
        const prev = out[i - 1]!;
        const cur = out[i]!;
        if (cur.record.seq === prev.record.seq + 1 && cur.record.prevHash !== prev.digest) {
          throw ledgerError("settlement.ledger.corrupt", "Stored records do not chain", {
            agreementId,
            seq: cur.record.seq,
          });
        }
      }
      return out;
    },
  });
}

export function allEvents(s: Store): LedgerEvent[] {
  return (s.db.prepare("SELECT body FROM events ORDER BY id").pluck().all() as string[]).map(
    (b) => JSON.parse(b) as LedgerEvent,
  );
}

/**
 * Replays the whole chain through a fresh in-memory core and compares the state, records
 * and events it gives with the saved ones.
 */
export function verifyAll(
  s: Store,
  saved: LedgerCore,
  dir: string,
): { entries: number; head: string } {
  const fresh = new LedgerCore();
  const events: string[] = [];
  let count = 0;
  try {
    for (const e of s.entries()) {
      const entry = JSON.parse(e.body) as LogEntry;
      let out: Outcome;
      try {
        out = fresh.execute(entry.cmd, new Date(entry.at), true);
      } catch (err) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `Entry ${e.index} does not replay`,
          { dir, entry: e.index },
          err,
        );
      }
      for (const ev of out.events) events.push(JSON.stringify(ev));
      count++;
    }
  } catch (err) {
    throw fromStorage(err, dir);
  }
  for (const id of new Set([...fresh.agreements.keys(), ...saved.agreements.keys()])) {
    const a = fresh.agreements.has(id) ? encodeState(fresh.saveState("agreement", id)) : null;
    const b = saved.agreements.has(id) ? encodeState(saved.saveState("agreement", id)) : null;
    if (a !== b) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of agreement ${id} is not what the chain gives`,
        {
          dir,
          agreementId: id,
        },
      );
    }
  }
  for (const id of new Set([...fresh.workOrders.keys(), ...saved.workOrders.keys()])) {
    const a = fresh.workOrders.has(id) ? encodeState(fresh.saveState("workOrder", id)) : null;
    const b = saved.workOrders.has(id) ? encodeState(saved.saveState("workOrder", id)) : null;
    if (a !== b) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of work order ${id} is not what the chain gives`,
        {
          dir,
          workOrderId: id,
        },
      );
    }
  }
  const stored = s.db.prepare("SELECT body FROM events ORDER BY id").pluck().all() as string[];
  const bad = stored.findIndex((b, i) => b !== events[i]);
  if (bad !== -1 || stored.length !== events.length) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      "The saved events are not what the chain gives",
      {
        dir,
        event: bad === -1 ? Math.min(stored.length, events.length) : bad,
      },
    );
  }
  for (const row of s.db
    .prepare("SELECT agreement, seq FROM records ORDER BY agreement, seq")
    .iterate() as Iterable<{
    agreement: string;
    seq: number;
  }>) {
    const mine = saved.agreements.get(row.agreement)?.records.get(row.seq);
    if (mine === undefined) {
      throw ledgerError("settlement.ledger.corrupt", "A stored record belongs to no agreement", {
        dir,
        agreementId: row.agreement,
        seq: row.seq,
      });
    }
  }
  return { entries: count, head: s.head().hash };
}

/**
 * Migrates a file-based ledger (`ledger.log`) into the store at first open: reads it
 * strictly, copies a torn tail aside to `ledger.log.recovered`, replays every entry through
 * the rules into one transaction, then renames the old file (never deletes it).
 */
export function migrateLegacy(s: Store, c: LedgerCore, dir: string): EmbeddedLedgerRecovery {
  const file = join(dir, "ledger.log");
  if (!existsSync(file)) return {};
  const migrated = s.getMeta("migratedFrom");
  if (migrated !== undefined) {
    // Committed, but the process died before the rename: finish it.
    renameAside(file);
    return {};
  }
  if (s.head().index !== -1) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      "Both a file-based log and a SQLite ledger are in this directory; move one away",
      { dir, entry: 0 },
    );
  }
  const legacy = readLegacyLog(file);
  const recovery: {
    tornTail?: { file: string; bytes: number };
    migratedFrom?: { file: string; entries: number };
  } = {};
  if (legacy.tornTail !== undefined) {
    const aside = join(dir, "ledger.log.recovered");
    const fd = openSync(aside, "w");
    try {
      writeSync(fd, legacy.tornTail.bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    recovery.tornTail = { file: aside, bytes: legacy.tornTail.bytes.length };
  }
  s.transaction(() => {
    for (const [i, payload] of legacy.entries.entries()) {
      let entry: LogEntry;
      let out: Outcome;
      try {
        entry = JSON.parse(payload.toString("utf8")) as LogEntry;
        out = c.execute(entry.cmd, new Date(entry.at), true);
      } catch (err) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `Entry ${i} of the file-based log does not replay`,
          { dir, entry: i },
          err,
        );
      }
      commit(s, c, entry.cmd, new Date(entry.at), out);
    }
    s.setMeta(
      "migratedFrom",
      JSON.stringify({
        file: "ledger.log",
        entries: legacy.entries.length,
        tornTailBytes: legacy.tornTail?.bytes.length ?? 0,
      }),
    );
  });
  const renamed = renameAside(file);
  recovery.migratedFrom = { file: renamed, entries: legacy.entries.length };
  return recovery;
}

/** Maps a storage error to the ledger's codes (keeping it as the cause). */
export function fromStorage(err: unknown, dir: string): unknown {
  if (!isMaaskitError(err) || !err.code.startsWith("metering.storage.")) return err;
  const code =
    err.code === "metering.storage.locked"
      ? "settlement.ledger.locked"
      : err.code === "metering.storage.corrupt"
        ? "settlement.ledger.corrupt"
        : err.code === "metering.storage.closed"
          ? "settlement.ledger.closed"
          : "settlement.ledger.unavailable";
  const index = (err.details as { index?: number }).index;
  return ledgerError(
    code,
    err.shortMessage,
    { dir, ...(index === undefined ? {} : { entry: index }) },
    err,
  ) as LedgerError;
}
