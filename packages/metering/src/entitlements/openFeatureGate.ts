import type { Decimal } from "decimal.js";
import type { Signer } from "ethers";
import { getAddress } from "ethers/address";
import { MaaskitError } from "../errors.js";
import { Dec, dec } from "../quantity.js";
import { meterRecordDigest } from "../records/encodeMeterRecord.js";
import {
  type ClockStatus,
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
  meterRecordToJson,
} from "../records/meterRecord.js";
import { signMeterRecord } from "../records/signMeterRecord.js";
import { openStore, type Store } from "../storage/openStore.js";
import {
  entitlementGrantFromJson,
  entitlementGrantToJson,
  entitlementRevocationFromJson,
  entitlementRevocationToJson,
} from "./entitlementJson.js";
import {
  type EntitlementAllowance,
  type EntitlementContext,
  type EntitlementDenial,
  evaluateFeature,
  type FeatureDecision,
  verifyEntitlementGrant,
} from "./evaluateFeature.js";
import {
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantDigest,
} from "./grant.js";

/** Parameters of {@link openFeatureGate}. */
export interface OpenFeatureGateParameters {
  /** The SQLite file of the gate (grants, budgets, the feature records' chains). */
  readonly file: string;
  /** The vendor's key: grants and revocations must be signed by it. */
  readonly issuer: string;
  readonly machineId: string;
  /** The machine's signer: the grants' subject, and the key that signs the feature records. */
  readonly signer: Signer;
  /** Each feature the machine has, and the agreement its use is billed on (one feature each). */
  readonly features: Readonly<Record<string, FeatureBilling>>;
  /** The clock status now (e.g. from NTP / PTP supervision). Strict: `unknown` denies. */
  readonly clock: () => ClockStatus;
  /** The machine's clock. Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** The agreement a feature is billed on. */
export interface FeatureBilling extends MeterRecordBinding {
  /**
   * The end of the agreement's billing period that contains `at`. With it, no record
   * straddles a period boundary: a use after one first gets zero-quantity records up to
   * each boundary passed, and `closePeriods` brings the chain to the last boundary so the
   * period can be settled.
   */
  readonly billingPeriodEnd?: (at: Date) => Date;
}

/** An allowed, counted use: its signed record is durable before this is returned. */
export interface FeatureUse extends EntitlementAllowance {
  /** The signed record of this use (absent for a `perPeriod` feature already paid this period). */
  readonly record?: MeterRecord;
  /** perPeriod: the current period was already paid (no new record). */
  readonly periodPaid?: true;
}

/** The machine side of features on demand. */
export interface FeatureGate {
  /**
   * Takes grants and revocations from the vendor (or ledger) and notes that the machine was
   * online at `at` (default now). A grant that does not verify, or does not extend the newest
   * accepted one (older generation, fork, gap), is refused with its reason — nothing of the
   * call is kept then.
   */
  sync(input: {
    grants?: readonly EntitlementGrant[];
    revocations?: readonly EntitlementRevocation[];
    at?: Date;
  }): void;
  /** Answers, offline and without counting anything, whether `featureId` may be used now. */
  checkFeature(featureId: string, options?: { amount?: Decimal }): FeatureDecision;
  /**
   * Counts a use BEFORE the feature acts: checks, signs the use's meter record (channel
   * `feature/<id>`), and commits the budget decrement and the record in one transaction.
   * Act only after it resolves allowed: a crash before the commit leaves no use counted and
   * nothing done; a crash after it leaves a use paid that may not have happened — never the
   * other way round. Calls are serialised.
   */
  useFeature(
    featureId: string,
    options?: { amount?: Decimal },
  ): Promise<FeatureUse | EntitlementDenial>;
  /**
   * Signs zero-quantity records up to the last billing-period boundary at or before `at`
   * (default now) for every feature with a grant and a `billingPeriodEnd`, so the periods
   * before it can be settled. Returns the new records.
   */
  closePeriods(at?: Date): Promise<MeterRecord[]>;
  /** The signed feature records of an agreement, in seq order. */
  records(agreementId: string): MeterRecord[];
  close(): void;
}

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS feature_grants (feature TEXT PRIMARY KEY, generation INTEGER NOT NULL, digest TEXT NOT NULL, json TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS feature_revocations (grant_digest TEXT NOT NULL, json TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS feature_usage (grant_digest TEXT NOT NULL, window_start INTEGER NOT NULL, used TEXT NOT NULL, PRIMARY KEY (grant_digest, window_start))",
  "CREATE TABLE IF NOT EXISTS feature_periods (grant_digest TEXT NOT NULL, period_start INTEGER NOT NULL, PRIMARY KEY (grant_digest, period_start))",
  "CREATE TABLE IF NOT EXISTS feature_chains (agreement TEXT PRIMARY KEY, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, period_end INTEGER NOT NULL)",
];

/** The prefix of a feature's record channel: `feature/<featureId>`. */
export const FEATURE_CHANNEL_PREFIX = "feature/";

/**
 * Opens the machine's feature gate: grants checked offline, budgets and the feature records
 * kept durably in one SQLite store (`openStore`, kind `metering.features/1`).
 *
 * @example
 * ```ts
 * const gate = await openFeatureGate({ file, issuer, machineId, signer, features: { boost: binding }, clock: () => "synchronised" });
 * gate.sync({ grants: [grant] });
 * const use = await gate.useFeature("boost", { amount: dec("0.25") });
 * if (use.allowed) raiseSetPoint();
 * ```
 */
export async function openFeatureGate(params: OpenFeatureGateParameters): Promise<FeatureGate> {
  const subject = getAddress(await params.signer.getAddress());
  const store = openStore({ file: params.file, kind: "metering.features/1", schema: SCHEMA });
  const now = params.now ?? (() => new Date());
  let queue: Promise<unknown> = Promise.resolve();

  const context = (featureId: string): EntitlementContext | undefined => {
    const binding = params.features[featureId];
    if (binding === undefined) return undefined;
    return { binding, issuer: params.issuer, machineId: params.machineId, subject, featureId };
  };

  const decide = (featureId: string, amount: Decimal | undefined, at: Date): GateDecision => {
    const ctx = context(featureId);
    if (ctx === undefined) {
      return {
        allowed: false,
        reason: "metering.entitlement.noGrant",
        details: { featureId, problem: "not a feature of this machine" },
      } satisfies EntitlementDenial;
    }
    const row = store.db
      .prepare("SELECT generation, digest, json FROM feature_grants WHERE feature = ?")
      .get(featureId) as { generation: number; digest: string; json: string } | undefined;
    const grants = row === undefined ? [] : [entitlementGrantFromJson(JSON.parse(row.json))];
    const revocations = (
      store.db
        .prepare("SELECT json FROM feature_revocations WHERE grant_digest = ?")
        .all(row?.digest ?? "") as { json: string }[]
    ).map((r) => entitlementRevocationFromJson(JSON.parse(r.json)));
    const lastOnline = store.getMeta("lastOnline");
    const lastSeen = store.getMeta("lastSeen");
    // perPeriod: a period already paid costs nothing more (every other rule still applies).
    const grant = grants[0];
    const period = grant?.terms.kind === "perPeriod" ? periodStart(grant, at) : undefined;
    const paid = period !== undefined && row !== undefined && periodPaid(store, row.digest, period);
    const d = evaluateFeature({
      context: ctx,
      grants,
      revocations,
      now: at,
      clock: params.clock(),
      lastOnline: new Date(lastOnline === undefined ? 0 : Number(lastOnline)),
      ...(lastSeen === undefined ? {} : { lastSeen: new Date(Number(lastSeen)) }),
      ...(row === undefined ? {} : { anchor: { generation: row.generation, digest: row.digest } }),
      used: (digest, window) => (paid ? dec(0) : usedIn(store, digest, window.start.getTime())),
      ...(amount === undefined ? {} : { amount }),
    });
    if (!d.allowed) return d;
    if (paid) {
      const { remaining: _, ...rest } = d;
      return { ...rest, periodPaid: true };
    }
    return period === undefined ? d : { ...d, period };
  };

  return {
    sync({ grants = [], revocations = [], at = now() }) {
      store.transaction(() => {
        for (const g of [...grants].sort((a, b) => a.generation - b.generation)) {
          acceptGrant(store, g, context(g.featureId));
        }
        for (const r of revocations) {
          store.append("revocation", JSON.stringify(entitlementRevocationToJson(r)));
          store.db
            .prepare("INSERT INTO feature_revocations (grant_digest, json) VALUES (?, ?)")
            .run(r.grant, JSON.stringify(entitlementRevocationToJson(r)));
        }
        const previous = Number(store.getMeta("lastOnline") ?? 0);
        if (at.getTime() > previous) {
          store.append("online", JSON.stringify({ at: at.toISOString() }));
          store.setMeta("lastOnline", String(at.getTime()));
        }
      });
    },
    checkFeature(featureId, options = {}) {
      const {
        periodPaid: _,
        period: __,
        ...d
      } = decide(featureId, options.amount, now()) as GateAllowance;
      return d as FeatureDecision;
    },
    useFeature(featureId, options = {}) {
      const run = async (): Promise<FeatureUse | EntitlementDenial> => {
        const at = now();
        const d = decide(featureId, options.amount, at);
        if (!d.allowed) return d;
        if (d.periodPaid === true) {
          const { periodPaid: _, period: __, ...use } = d;
          return { ...use, periodPaid: true };
        }
        return countUse(store, params, featureId, d, at);
      };
      const next = queue.then(run, run);
      queue = next.catch(() => undefined);
      return next;
    },
    closePeriods(at = now()) {
      const run = async (): Promise<MeterRecord[]> => {
        const out: MeterRecord[] = [];
        for (const featureId of Object.keys(params.features)) {
          const row = store.db
            .prepare("SELECT json FROM feature_grants WHERE feature = ?")
            .get(featureId) as { json: string } | undefined;
          if (row === undefined) continue;
          const grant = entitlementGrantFromJson(JSON.parse(row.json));
          const signed = await signRecords(store, params, featureId, grant, at, undefined);
          store.transaction(() => writeRecords(store, params.features[featureId]!, signed, {}));
          out.push(...signed.map((x) => x.record));
        }
        return out;
      };
      const next = queue.then(run, run);
      queue = next.catch(() => undefined);
      return next;
    },
    records(agreementId) {
      const out: MeterRecord[] = [];
      for (const e of store.entries()) {
        if (e.kind !== "record") continue;
        const body = JSON.parse(e.body) as { record?: unknown };
        if (body.record === undefined) continue;
        const record = meterRecordFromJson(body.record);
        if (record.agreementId === agreementId) out.push(record);
      }
      return out;
    },
    close() {
      store.close();
    },
  };
}

interface GateAllowance extends EntitlementAllowance {
  /** perPeriod: the start (ms) of the paid period `now` is in. */
  readonly period?: number;
  /** perPeriod: that period is already paid. */
  readonly periodPaid?: boolean;
}

type GateDecision = GateAllowance | EntitlementDenial;

function periodStart(grant: EntitlementGrant, at: Date): number {
  const from = grant.notBefore.getTime();
  const p = grant.terms.periodMs!;
  return from + Math.floor((at.getTime() - from) / p) * p;
}

function periodPaid(store: Store, digest: string, start: number): boolean {
  return (
    store.db
      .prepare("SELECT 1 FROM feature_periods WHERE grant_digest = ? AND period_start = ?")
      .get(digest, start) !== undefined
  );
}

function usedIn(store: Store, digest: string, windowStart: number): Decimal {
  const row = store.db
    .prepare("SELECT used FROM feature_usage WHERE grant_digest = ? AND window_start = ?")
    .get(digest, windowStart) as { used: string } | undefined;
  return row === undefined ? dec(0) : new Dec(row.used);
}

function acceptGrant(store: Store, g: EntitlementGrant, ctx: EntitlementContext | undefined): void {
  if (ctx === undefined) {
    throw new MaaskitError(
      "metering.entitlement.wrongFeature",
      "Grant for a feature this machine does not have",
      {
        details: { featureId: g.featureId },
      },
    );
  }
  const v = verifyEntitlementGrant(g, ctx);
  if (!v.ok) throw new MaaskitError(v.reason, `Grant refused: ${v.reason}`, { details: v.details });
  const row = store.db
    .prepare("SELECT generation, digest FROM feature_grants WHERE feature = ?")
    .get(g.featureId) as { generation: number; digest: string } | undefined;
  if (row !== undefined && row.digest === v.digest) return;
  if (row !== undefined && g.generation <= row.generation) {
    throw new MaaskitError(
      g.generation < row.generation
        ? "metering.entitlement.rolledBack"
        : "metering.entitlement.brokenChain",
      "Grant refused: it does not replace the newest accepted grant",
      { details: { generation: g.generation, accepted: row.generation } },
    );
  }
  const extends_ =
    row === undefined
      ? g.generation === 0
      : g.generation === row.generation + 1 && g.prevGrant === row.digest;
  if (!extends_) {
    throw new MaaskitError(
      "metering.entitlement.brokenChain",
      "Grant refused: it does not extend the accepted chain",
      {
        details: { generation: g.generation, prevGrant: g.prevGrant, accepted: row ?? null },
      },
    );
  }
  const json = JSON.stringify(entitlementGrantToJson(g));
  store.append("grant", json);
  store.db
    .prepare(
      "INSERT INTO feature_grants (feature, generation, digest, json) VALUES (?, ?, ?, ?) ON CONFLICT(feature) DO UPDATE SET generation = excluded.generation, digest = excluded.digest, json = excluded.json",
    )
    .run(g.featureId, g.generation, entitlementGrantDigest(g), json);
}

async function countUse(
  store: Store,
  params: OpenFeatureGateParameters,
  featureId: string,
  gd: GateAllowance,
  at: Date,
): Promise<FeatureUse> {
  const { period, periodPaid: _, ...d } = gd;
  const binding = params.features[featureId]!;
  const windowStart = d.window.start.getTime();
  const used = usedIn(store, d.digest, windowStart);
  const signed = await signRecords(store, params, featureId, d.grant, at, d.amount);
  store.transaction(() => {
    writeRecords(store, binding, signed, { grant: d.digest, window: windowStart });
    store.db
      .prepare(
        "INSERT INTO feature_usage (grant_digest, window_start, used) VALUES (?, ?, ?) ON CONFLICT(grant_digest, window_start) DO UPDATE SET used = excluded.used",
      )
      .run(d.digest, windowStart, used.plus(d.amount).toFixed());
    if (period !== undefined) {
      store.db
        .prepare("INSERT INTO feature_periods (grant_digest, period_start) VALUES (?, ?)")
        .run(d.digest, period);
    }
    store.setMeta(
      "lastSeen",
      String(Math.max(at.getTime(), Number(store.getMeta("lastSeen") ?? 0))),
    );
  });
  return { ...d, record: signed[signed.length - 1]!.record };
}

interface SignedRecord {
  readonly record: MeterRecord;
  readonly digest: string;
}

/**
 * Signs the records that continue a feature agreement's chain to `at`: zero-quantity
 * records up to each billing boundary passed, then (with `amount`) the use itself ending at
 * `at`. Without `amount` it stops at the last boundary at or before `at`.
 */
async function signRecords(
  store: Store,
  params: OpenFeatureGateParameters,
  featureId: string,
  grant: EntitlementGrant,
  at: Date,
  amount: Decimal | undefined,
): Promise<SignedRecord[]> {
  const billing = params.features[featureId]!;
  const { billingPeriodEnd: periodEndOf, ...binding } = billing;
  const chain = store.db
    .prepare("SELECT seq, prev_hash, period_end FROM feature_chains WHERE agreement = ?")
    .get(binding.agreementId) as { seq: number; prev_hash: string; period_end: number } | undefined;
  let seq = chain === undefined ? 0 : chain.seq + 1;
  let prevHash = chain?.prev_hash ?? GENESIS_HASH;
  let start = chain?.period_end ?? grant.notBefore.getTime();
  const out: SignedRecord[] = [];
  const sign = async (end: number, value: Decimal) => {
    const record = await signMeterRecord(
      {
        version: 1,
        ...binding,
        machineId: params.machineId,
        channel: `${FEATURE_CHANNEL_PREFIX}${featureId}`,
        seq,
        periodStart: new Date(start),
        periodEnd: new Date(end),
        quantity: { value, unit: grant.terms.unit },
        flags: {},
        clock: params.clock(),
        quarantined: 0,
        prevHash,
      },
      { signer: params.signer, domain: binding },
    );
    const digest = meterRecordDigest(record);
    out.push({ record, digest });
    seq += 1;
    prevHash = digest;
    start = end;
  };
  if (periodEndOf !== undefined) {
    for (let boundary = periodEndOf(new Date(start)).getTime(); boundary <= at.getTime(); ) {
      await sign(boundary, dec(0));
      boundary = periodEndOf(new Date(start)).getTime();
    }
  }
  if (amount !== undefined) await sign(Math.max(at.getTime(), start + 1), amount);
  return out;
}

/** Appends signed records and moves the agreement's chain head; inside a transaction. */
function writeRecords(
  store: Store,
  binding: MeterRecordBinding,
  signed: readonly SignedRecord[],
  use: { grant?: string; window?: number },
): void {
  const last = signed[signed.length - 1];
  if (last === undefined) return;
  for (const { record } of signed) {
    const isUse = record === last.record && use.grant !== undefined;
    store.append(
      "record",
      JSON.stringify({ ...(isUse ? use : {}), record: meterRecordToJson(record) }),
    );
  }
  store.db
    .prepare(
      "INSERT INTO feature_chains (agreement, seq, prev_hash, period_end) VALUES (?, ?, ?, ?) ON CONFLICT(agreement) DO UPDATE SET seq = excluded.seq, prev_hash = excluded.prev_hash, period_end = excluded.period_end",
    )
    .run(binding.agreementId, last.record.seq, last.digest, last.record.periodEnd.getTime());
}
