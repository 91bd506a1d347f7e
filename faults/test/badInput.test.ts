import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseGatewayConfig } from "@maaskit/gateway";
import { parseServiceAgreement, type ServiceAgreementJson } from "@maaskit/maintenance";
import {
  counterDelta,
  createRecorder,
  dec,
  isMaaskitError,
  type LogEntry,
  type MeterEvent,
  type MeterRecord,
  type MeterWindow,
  meterRecordCodec,
  meterRecordFromJson,
  meterRecordToJson,
  openJournal,
  type QuarantineEvent,
  type Reading,
  runCli,
  signLogEntry,
  tumblingWindow,
  type UsageEvent,
  validateReadings,
  verifyExport,
  verifyLogEntries,
  verifyMeterRecords,
} from "@maaskit/metering";
import {
  type AgreementJson,
  embeddedLedger,
  type LedgerBackend,
  openAgreementWithConsent,
  parseAgreement,
  parseTariff,
} from "@maaskit/settlement";
import { demoTariff } from "compressor-pay-per-volume/src/demo.js";
import { Wallet } from "ethers";
import fc from "fast-check";
import { from, lastValueFrom, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

// Random and malformed input against every public entry point that takes outside data:
// only typed MaaskitErrors or quarantine entries come out, nothing crashes, no promise is
// left rejected, and nothing is lost (what goes in comes out, or is quarantined with a reason).
// (Vitest fails the run on any unhandled rejection or uncaught exception.)

const RUNS = Number(process.env.FAULTS_FUZZ_RUNS ?? "500");
const CODE = /^[a-z]+(\.[a-zA-Z0-9]+)+$/;
const T0 = new Date("2025-03-03T00:00:00.000Z");

/** Calls `fn`; it may return, or throw a MaaskitError with a dotted code — nothing else. */
function typedOrOk<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    expect(isMaaskitError(err), `not a MaaskitError: ${String(err)}`).toBe(true);
    expect((err as { code: string }).code).toMatch(CODE);
    return undefined;
  }
}
async function typedOrOkAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    expect(isMaaskitError(err), `not a MaaskitError: ${String(err)}`).toBe(true);
    expect((err as { code: string }).code).toMatch(CODE);
    return undefined;
  }
}

/** Garbage of every JSON (and some non-JSON) shape. */
const garbage = fc.oneof(
  fc.jsonValue(),
  fc.anything(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 2 ** 64, "", "0x", "1e309"),
);

/** A valid object with random mutations: keys removed, values replaced, at any depth. */
function mutated(valid: unknown): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    paths.push(path);
    if (v !== null && typeof v === "object")
      for (const [k, c] of Object.entries(v as object)) walk(c, [...path, k]);
  };
  walk(valid, []);
  const mutation = fc.record({
    path: fc.constantFrom(...paths.filter((p) => p.length > 0)),
    op: fc.constantFrom("delete", "replace", "stringify", "negate"),
    value: garbage,
  });
  return fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => {
    const copy = structuredClone(valid) as Record<string, unknown>;
    for (const m of ms) {
      let parent: Record<string, unknown> | undefined = copy;
      for (const k of m.path.slice(0, -1)) {
        const next: unknown = parent?.[k];
        parent =
          next !== null && typeof next === "object" ? (next as Record<string, unknown>) : undefined;
      }
      const key = m.path.at(-1)!;
      if (parent === undefined) continue;
      if (m.op === "delete") delete parent[key];
      else if (m.op === "replace") parent[key] = m.value;
      else if (m.op === "stringify") parent[key] = JSON.stringify(parent[key]) ?? "null";
      else if (typeof parent[key] === "string") parent[key] = `-${parent[key] as string}`;
      else if (typeof parent[key] === "number") parent[key] = -(parent[key] as number) - 1;
    }
    return copy;
  });
}
const validOrBroken = (valid: unknown) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(structuredClone(valid)) },
    { weight: 6, arbitrary: mutated(valid) },
    { weight: 2, arbitrary: garbage },
  );

let dir: string;
let wallet: Wallet;
let records: MeterRecord[];
let agreementJson: AgreementJson;

/** Good readings of one register: a few windows of real records to mutate. */
function goodReadings(n: number): Reading[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "reading",
    machineId: "m1",
    channel: "vol",
    value: dec(100 + i * 7),
    unit: "MTQ",
    quality: "good",
    sourceTime: new Date(T0.getTime() + i * 5 * 60_000),
  })) as Reading[];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-fuzz-"));
  wallet = new Wallet(Wallet.createRandom().privateKey);
  agreementJson = {
    agreementId: `0x${"ab".repeat(32)}`,
    name: "fuzz",
    parties: { provider: Wallet.createRandom().address, customer: Wallet.createRandom().address },
    machineId: "m1",
    signers: [{ address: wallet.address, validFrom: T0.toISOString() }],
    tariff: demoTariff,
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "prepaid", overdraft: "accrueDebt" },
    start: T0.toISOString(),
    status: "active",
  };
  const windows = (
    await lastValueFrom(
      from(goodReadings(40)).pipe(
        counterDelta({ channel: "vol", unit: "MTQ", basis: "ISO1217-FAD" }),
        tumblingWindow({ size: { minutes: 15 }, timeZone: "UTC" }),
        toArray(),
      ),
    )
  ).filter((e): e is MeterWindow => e.kind === "window");
  const journal = await openJournal({ dir: join(dir, "journal"), codec: meterRecordCodec });
  const recorder = createRecorder({
    journal,
    signer: wallet,
    binding: {
      agreementId: agreementJson.agreementId,
      chainId: 0,
      verifyingContract: `0x${"00".repeat(20)}`,
    },
    build: { channel: "vol", unit: "MTQ", basis: "ISO1217-FAD" },
  });
  records = [];
  for (const w of windows) records.push(await recorder.record(w));
  await journal.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Readings of every kind of wrong. */
const reading = fc.record({
  kind: fc.constantFrom("reading", "reading", "reading", "gap", "bogus"),
  machineId: fc.constantFrom("m1", "m2", "", 7 as unknown as string),
  channel: fc.constantFrom("vol", "vol", "vol", "other"),
  value: fc.oneof(
    fc.integer({ min: 0, max: 10_000 }).map((n) => dec(n)),
    fc.integer({ min: 0, max: 10_000 }).map((n) => dec(n).div(8)),
    fc.constantFrom(dec(-3), Number.NaN, "12", null, true, Number.POSITIVE_INFINITY, 5),
  ),
  unit: fc.constantFrom("MTQ", "MTQ", "MTQ", "KWH", "", "m3"),
  quality: fc.constantFrom("good", "good", "uncertain", "bad", "weird"),
  sourceTime: fc.oneof(
    fc.integer({ min: 0, max: 48 * 3600 }).map((s) => new Date(T0.getTime() + s * 1000)),
    fc.constantFrom(
      new Date(Number.NaN),
      "2025-03-03" as unknown as Date,
      undefined as unknown as Date,
    ),
  ),
});

describe("bad input", () => {
  test("behavior: validateReadings → counterDelta → tumblingWindow never throw on any readings; every reading is used, is the baseline, or is quarantined; windows hold exactly the usage", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(reading, { maxLength: 60 }), async (input) => {
        const events = input as unknown as MeterEvent[];
        const validated = await lastValueFrom(
          from(events).pipe(
            validateReadings({
              units: { vol: "MTQ" },
              nonNegative: ["vol"],
              maxFutureMs: Number.MAX_SAFE_INTEGER,
            }),
            toArray(),
          ),
        );
        // One out per in: the reading itself, or a quarantine entry naming it.
        expect(validated.length).toBe(events.length);
        const deltas = await lastValueFrom(
          from(validated).pipe(
            counterDelta({ channel: "vol", unit: "MTQ", rollover: "1000000" }),
            toArray(),
          ),
        );
        const quarantined = new Set<unknown>();
        for (const e of [...validated, ...deltas])
          if (e.kind === "quarantine") {
            expect((e as QuarantineEvent).reason).toMatch(/^[a-z]+\.[a-zA-Z]+/);
            quarantined.add((e as QuarantineEvent).item);
          }
        const volReadings = validated.filter(
          (e) => e.kind === "reading" && (e as Reading).channel === "vol",
        ) as Reading[];
        const accepted = volReadings.filter((r) => !quarantined.has(r));
        const baselines = new Set(accepted.map((r) => r.machineId)).size;
        const usage = deltas.filter((e): e is UsageEvent => e.kind === "usage");
        expect(accepted.length).toBe(usage.length + baselines);

        const windowed = await lastValueFrom(
          from(deltas).pipe(
            tumblingWindow({ size: { minutes: 15 }, timeZone: "UTC", allowedLatenessMs: 0 }),
            toArray(),
          ),
        );
        let inWindows = dec(0);
        for (const e of windowed) {
          if (e.kind === "window")
            for (const u of (e as MeterWindow).usage) inWindows = inWindows.plus(u.quantity.value);
          if (
            e.kind === "quarantine" &&
            (e as QuarantineEvent).item &&
            ((e as QuarantineEvent).item as UsageEvent).kind === "usage"
          )
            inWindows = inWindows.plus(((e as QuarantineEvent).item as UsageEvent).quantity.value);
        }
        let used = dec(0);
        for (const u of usage) used = used.plus(u.quantity.value);
        expect(inWindows.toFixed()).toBe(used.toFixed());
      }),
      { numRuns: RUNS },
    );
  });

  test("behavior: meterRecordFromJson and verifyMeterRecords take any JSON: a record or a typed error, one verdict per record", () => {
    const valid = meterRecordToJson(records[0]!);
    fc.assert(
      fc.property(fc.array(validOrBroken(valid), { minLength: 1, maxLength: 5 }), (jsons) => {
        const parsed: MeterRecord[] = [];
        for (const j of jsons) {
          const r = typedOrOk(() => meterRecordFromJson(j));
          if (r) parsed.push(r);
        }
        const out = typedOrOk(() => verifyMeterRecords(parsed, { signer: wallet.address }));
        expect(out?.results.length).toBe(parsed.length);
      }),
      { numRuns: RUNS },
    );
  });

  test("behavior: maaskit verify and verifyExport on random export files: one verdict per line, exit 0 only when all are valid, never a crash", async () => {
    const lines = records.map((r) => JSON.stringify(meterRecordToJson(r)));
    const line = fc.oneof(
      fc.constantFrom(...lines),
      mutated(meterRecordToJson(records[1]!)).map((j) => JSON.stringify(j)),
      fc.string(),
      fc.jsonValue().map((j) => JSON.stringify(j)),
      fc.constantFrom("{", "[]", "null", "\u0000", '{"kind":"logEntry"}', '{"kind":"statement"}'),
    );
    let file = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 12 }), async (ls) => {
        const text = ls.join("\n");
        const verdicts = typedOrOk(() => verifyExport(text, { signers: [wallet.address] }))!;
        expect(verdicts).toBeDefined();
        expect(verdicts.length).toBe(text.split(/\r?\n/).filter((l) => l.trim() !== "").length);
        const path = join(dir, `export-${file++}.jsonl`);
        writeFileSync(path, text);
        const code = await runCli(["verify", path, "--signer", wallet.address], {
          stdout: () => {},
          stderr: () => {},
        });
        expect([0, 1, 2]).toContain(code);
        if (verdicts.length > 0 && verdicts.every((v) => v.valid)) expect(code).toBe(0);
        if (verdicts.some((v) => !v.valid)) expect(code).not.toBe(0);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  test("behavior: parseTariff, parseAgreement, parseServiceAgreement and parseGatewayConfig: a value or a typed error listing the problems", () => {
    const service: ServiceAgreementJson = {
      id: "service-1",
      machineId: "m1",
      customer: agreementJson.parties.customer,
      provider: agreementJson.parties.provider,
      arbiter: Wallet.createRandom().address,
      machineSigner: wallet.address,
      currency: { symbol: "EUR", decimals: 2 },
      prices: { airFilterChange: "180.00", oilAndSeparatorService: "640.00" },
      responseHours: 24,
      completionHours: 72,
      warranty: [
        { serviceType: "oilAndSeparatorService", every: { runHours: "4000", months: 12 } },
      ],
    };
    // The published config of `maaskit-gateway` (@maaskit/gateway), with a profile of its own.
    const gateway = {
      machineId: "m1",
      endpoint: "opc.tcp://127.0.0.1:4840",
      profile: {
        name: "fuzzed compressor",
        billed: "volume",
        state: "state",
        idealRate: { value: "12.5", per: "min" },
        channels: {
          volume: { nodeId: "ns=1;s=V", kind: "register", unit: "MTQ", rollover: "100000000" },
          state: { nodeId: "ns=1;s=S", kind: "state" },
        },
      },
      window: { size: "15m", timeZone: "Europe/Berlin", allowedLatenessMs: 5000 },
      agreement: "agreement.json",
      signerKeyFile: "gateway.key",
      ledger: { type: "embedded", dir: "data/ledger" },
    };
    const entries = [
      ["tariff", demoTariff, (j: unknown) => parseTariff(j)],
      ["agreement", agreementJson, (j: unknown) => parseAgreement(j)],
      [
        "service agreement",
        service,
        (j: unknown) => parseServiceAgreement(j as ServiceAgreementJson),
      ],
      ["gateway config", gateway, (j: unknown) => parseGatewayConfig(j, dir)],
    ] as const;
    for (const [, valid, parse] of entries) {
      expect(typedOrOk(() => parse(structuredClone(valid)))).toBeDefined();
      fc.assert(
        fc.property(validOrBroken(valid), (j) => {
          typedOrOk(() => parse(j));
        }),
        { numRuns: RUNS },
      );
    }
  });

  test("behavior: verifyLogEntries on random and tampered signed logs: one result per entry, never a throw", async () => {
    const entries: LogEntry[] = [];
    for (let i = 0; i < 3; i++) {
      entries.push(
        await signLogEntry(
          {
            logId: "fuzz",
            type: "note",
            at: new Date(T0.getTime() + i),
            payload: { n: i },
            head: entries.at(-1),
          },
          wallet,
        ),
      );
    }
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...entries), mutated(entries[1]), garbage), {
          maxLength: 6,
        }),
        (es) => {
          const out = typedOrOk(() => verifyLogEntries(es, { signers: [wallet.address] }));
          expect(out?.length).toBe(es.length);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test("behavior: an embedded ledger fed garbage records rejects each batch with a typed error, changes nothing, and still accepts the real records after", async () => {
    const ledger: LedgerBackend = embeddedLedger({ dir: join(dir, "ledger") });
    try {
      await openAgreementWithConsent(ledger, parseAgreement(agreementJson));
      const id = agreementJson.agreementId;
      const validJson = meterRecordToJson(records[0]!);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.oneof(validOrBroken(validJson), garbage), { minLength: 1, maxLength: 3 }),
          async (batch) => {
            const before = await ledger.getRecordsHead(id);
            // Garbage as the backend sees it from a buggy or hostile caller: not even parsed.
            const garbageRecords = batch.map((j) => {
              try {
                return meterRecordFromJson(j);
              } catch {
                return j as MeterRecord;
              }
            });
            const result = await typedOrOkAsync(() =>
              ledger.submitRecords({ agreementId: id, records: garbageRecords }),
            );
            const after = await ledger.getRecordsHead(id);
            if (result === undefined) expect(after).toEqual(before);
            else expect(after.nextSeq).toBeGreaterThanOrEqual(before.nextSeq);
          },
        ),
        { numRuns: Math.ceil(RUNS / 2) },
      );
      await typedOrOkAsync(() =>
        ledger.submitRecords({ agreementId: "nonsense", records: records.slice(0, 1) }),
      );
      const head = await ledger.getRecordsHead(id);
      const out = await ledger.submitRecords({
        agreementId: id,
        records: records.slice(head.nextSeq),
      });
      expect(out.results.length).toBe(records.length - head.nextSeq);
      expect((await ledger.getRecordsHead(id)).nextSeq).toBe(records.length);
    } finally {
      await ledger.close();
    }
  });
});
