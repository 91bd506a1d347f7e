import { createHash } from "node:crypto";
import { encodeMeterRecord, meterRecordFromJson, meterRecordToJson } from "@maaskit/metering";
import { ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import type { AcceptedRecord, AcceptedRecords, Command, Outcome } from "../../rules/index.js";
import { LedgerCore } from "../../rules/index.js";
import { decodeState, encodeState } from "../embedded/stateCodec.js";
import { type PgClientLike, queryPrepared } from "./pgQueryable.js";

/** The hash before the first entry of a chain. */
export const CHAIN_GENESIS = "0".repeat(64);

/** One chain entry's hashed body (JSON, key order as written here). */
export interface EntryBody {
  readonly v: 1;
  readonly chain: string;
  readonly seq: number;
  readonly prev: string;
  readonly at: string;
  readonly cmd: Command;
  /** sha256 of the state text this entry left for its chain. */
  readonly state: string;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

type Kind = "agreement" | "workOrder";

/**
 * The chain (`agreement:<id>` or `workOrder:<id>`) a command reads and writes; none when
 * the command names neither (the rules then refuse it).
 */
export function chainsOf(cmd: Command): string[] {
  const j = cmd as unknown as Record<string, unknown>;
  const sub = (k: string, f: string) => (j[k] as Record<string, unknown> | undefined)?.[f];
  const agreementId =
    j.agreementId ??
    sub("agreement", "agreementId") ??
    sub("statement", "agreementId") ??
    sub("grant", "agreementId") ??
    sub("revocation", "agreementId");
  const workOrderId = j.workOrderId ?? sub("terms", "workOrderId");
  if (typeof agreementId === "string") return [`agreement:${agreementId}`];
  if (typeof workOrderId === "string") return [`workOrder:${workOrderId}`];
  return [];
}

function parseChain(chain: string): [Kind, string] {
  const i = chain.indexOf(":");
  return [chain.slice(0, i) as Kind, chain.slice(i + 1)];
}

/** The head of a chain as loaded under its lock. */
interface Head {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Loads the newest state of `chain` into `core` (if the chain exists), checking that the
 * state row is the one its entry recorded. Returns the chain head.
 */
export async function loadChain(c: PgClientLike, core: LedgerCore, chain: string): Promise<Head> {
  const { rows } = await queryPrepared(
    c,
    "load_chain",
    `SELECT e.id::text AS id, e.chain_seq::text AS seq, e.entry_hash, e.body, s.state
       FROM maaskit_ledger_entries e LEFT JOIN maaskit_ledger_states s ON s.entry_id = e.id
      WHERE e.chain = $1 ORDER BY e.chain_seq DESC LIMIT 1`,
    [chain],
  );
  const row = rows[0];
  if (row === undefined) return { seq: -1, hash: CHAIN_GENESIS };
  const state = row.state as string | null;
  let recorded: unknown;
  try {
    recorded = (JSON.parse(String(row.body)) as EntryBody).state;
  } catch {
    recorded = undefined;
  }
  if (state === null || recorded !== sha256Hex(state)) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      `The saved state of ${chain} is not the one entry ${row.id} left`,
      { entry: Number(row.id), chain },
    );
  }
  core.restoreState(parseChain(chain)[0], decodeState(state));
  return { seq: Number(row.seq), hash: String(row.entry_hash) };
}

/** Accepted records prefetched for one command, plus the ones it adds. */
export class PrefetchedRecords {
  readonly byAgreement = new Map<string, Map<number, AcceptedRecord>>();
  readonly added: { agreementId: string; accepted: AcceptedRecord }[] = [];

  recordsFor = (agreementId: string): AcceptedRecords => {
    let map = this.byAgreement.get(agreementId);
    if (map === undefined) {
      map = new Map();
      this.byAgreement.set(agreementId, map);
    }
    const m = map;
    return {
      get: (seq) => m.get(seq),
      set: (seq, accepted) => {
        m.set(seq, accepted);
        this.added.push({ agreementId, accepted });
      },
      *overlapping(start, end) {
        for (const r of m.values()) {
          if (r.record.periodEnd > start && r.record.periodStart < end) yield r;
        }
      },
    };
  };

  /** Loads the stored records a command may read (its seqs, its period or statement range). */
  async prefetch(c: PgClientLike, cmd: Command): Promise<void> {
    let where: string;
    let args: unknown[];
    let name: string;
    if (cmd.t === "submitRecords") {
      const seqs = cmd.records
        .map((r) => (r as { seq?: unknown } | null)?.seq)
        .filter((s): s is number => Number.isSafeInteger(s));
      if (seqs.length === 0) return;
      where = "seq = ANY($2::bigint[])";
      name = "prefetch_seqs";
      args = [cmd.agreementId, `{${seqs.join(",")}}`];
    } else if (cmd.t === "settlePeriod") {
      const start = Date.parse(cmd.start);
      const end = Date.parse(cmd.end);
      if (!Number.isFinite(start) || !Number.isFinite(end)) return;
      where = "period_start < $2 AND period_end > $3";
      name = "prefetch_period";
      args = [cmd.agreementId, end, start];
    } else if (cmd.t === "settleStatement") {
      const st = cmd.statement as { agreementId?: unknown; firstSeq?: unknown; lastSeq?: unknown };
      if (
        typeof st?.agreementId !== "string" ||
        !Number.isSafeInteger(st.firstSeq) ||
        !Number.isSafeInteger(st.lastSeq)
      ) {
        return;
      }
      where = "seq BETWEEN $2 AND $3";
      name = "prefetch_range";
      args = [st.agreementId, st.firstSeq, st.lastSeq];
    } else {
      return;
    }
    const { rows } = await queryPrepared(
      c,
      name,
      `SELECT digest, record FROM maaskit_ledger_records WHERE agreement = $1 AND ${where} ORDER BY seq`,
      args,
    );
    const agreementId = args[0] as string;
    let map = this.byAgreement.get(agreementId);
    if (map === undefined) {
      map = new Map();
      this.byAgreement.set(agreementId, map);
    }
    for (const row of rows) {
      const a = decodeRecord(agreementId, String(row.digest), String(row.record));
      map.set(a.record.seq, a);
    }
  }
}

/** A stored record read back: must still encode to its digest, or it is refused. */
export function decodeRecord(agreementId: string, digest: string, text: string): AcceptedRecord {
  const record = meterRecordFromJson(JSON.parse(text));
  if (encodeMeterRecord(record).digest !== digest || record.agreementId !== agreementId) {
    throw ledgerError("settlement.ledger.corrupt", "A stored record does not match its digest", {
      agreementId,
      seq: record.seq,
    });
  }
  return { record, digest };
}

/** Events written by one command, with their table ids. */
export interface WrittenEvents {
  readonly events: { id: number; event: LedgerEvent }[];
}

/**
 * Writes one applied command: an entry (and the state it left) on the chain it touched, the
 * records it accepted and the events it emitted — all inside the caller's transaction, in
 * ONE statement (data-modifying CTEs), so a command costs one round trip to write.
 */
export async function writeOutcome(
  c: PgClientLike,
  core: LedgerCore,
  heads: Map<string, Head>,
  cmd: Command,
  at: Date,
  out: Outcome,
  records: PrefetchedRecords,
): Promise<WrittenEvents> {
  const touched = [...heads].filter(([chain]) => {
    const [kind, id] = parseChain(chain);
    return kind === "agreement" ? core.agreements.has(id) : core.workOrders.has(id);
  });
  // A command names one chain (chainsOf); one it changed must exist afterwards.
  if (touched.length !== 1) {
    throw ledgerError("settlement.ledger.corrupt", "A command changed no agreement or work order", {
      command: cmd.t,
    });
  }
  const [chain, head] = touched[0]!;
  const [kind, id] = parseChain(chain);
  const state = encodeState(core.saveState(kind, id));
  const body: EntryBody = {
    v: 1,
    chain,
    seq: head.seq + 1,
    prev: head.hash,
    at: at.toISOString(),
    cmd,
    state: sha256Hex(state),
  };
  const text = JSON.stringify(body);
  const recordRows = records.added.map(({ agreementId, accepted }) => ({
    agreement: agreementId,
    seq: accepted.record.seq,
    period_start: accepted.record.periodStart.getTime(),
    period_end: accepted.record.periodEnd.getTime(),
    digest: accepted.digest,
    record: JSON.stringify(meterRecordToJson(accepted.record)),
  }));
  const eventRows = out.events.map((e) => ({ body: JSON.stringify(e) }));
  const { rows } = await queryPrepared(
    c,
    "write_outcome",
    `WITH e AS (
       INSERT INTO maaskit_ledger_entries (chain, chain_seq, body, prev_hash, entry_hash)
       VALUES ($1, $2, $3, $4, $5) RETURNING id),
     s AS (
       INSERT INTO maaskit_ledger_states (entry_id, chain, chain_seq, state)
       SELECT e.id, $1, $2, $6 FROM e),
     r AS (
       INSERT INTO maaskit_ledger_records
         (agreement, seq, entry_id, period_start, period_end, digest, record)
       SELECT x.agreement, x.seq, e.id, x.period_start, x.period_end, x.digest, x.record
         FROM e, json_to_recordset($7::json) AS x(agreement text, seq bigint, period_start bigint,
              period_end bigint, digest text, record text)),
     v AS (
       INSERT INTO maaskit_ledger_events (entry_id, body)
       SELECT e.id, x.body FROM e, json_to_recordset($8::json) AS x(body text)
       RETURNING id)
     SELECT (SELECT id::text FROM e) AS entry_id,
            coalesce((SELECT array_agg(id::text ORDER BY id) FROM v), '{}') AS event_ids`,
    [
      chain,
      body.seq,
      text,
      head.hash,
      sha256Hex(text),
      state,
      JSON.stringify(recordRows),
      JSON.stringify(eventRows),
    ],
  );
  // The function scan yields the events in order and each row takes the next id.
  const ids = parseIds(rows[0]?.event_ids);
  if (ids.length !== out.events.length) {
    throw ledgerError("settlement.ledger.corrupt", "Not every event of a command was written", {
      command: cmd.t,
    });
  }
  return { events: out.events.map((event, i) => ({ id: ids[i]!, event })) };
}

/** A bigint[] column as numbers: pg gives an array, PGlite may too, or the `{1,2}` text. */
function parseIds(v: unknown): number[] {
  const list = Array.isArray(v)
    ? v
    : String(v ?? "{}")
        .replace(/^\{|\}$/g, "")
        .split(",")
        .filter((x) => x !== "");
  return list.map((x) => Number(x)).sort((a, b) => a - b);
}

/** A fresh rules engine whose records come from `records`. */
export function coreFor(records: PrefetchedRecords): LedgerCore {
  return new LedgerCore(undefined, records.recordsFor);
}
