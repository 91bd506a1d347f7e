// Settlement: signed records accepted per second by the embedded ledger (every rule checked,
// fsynced before the call resolves), against bare ethers verifyTypedData of the same records
// (the least a ledger must do per record); plus the EVM gas report written by `pnpm gas`
// (bench/gas.json), read here, never re-measured.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildMeterRecord,
  genesisChainState,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordCodec,
  meterRecordTypedData,
  nextChainState,
  openJournal,
  signMeterRecord,
} from "@maaskit/metering";
import {
  createSettlementClient,
  embeddedLedger,
  openAgreementWithConsent,
  parseAgreement,
} from "@maaskit/settlement";
import { keccak256, type TypedDataField, toUtf8Bytes, verifyTypedData, Wallet } from "ethers";
import { filter, firstValueFrom } from "rxjs";
import { type Figure, figure, log, median, perSecond } from "./lib/measure.js";
import { compressorWindows } from "./lib/meterWindows.js";

// Fixed, public benchmark keys: never hold anything of value.
const MACHINE_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const PROVIDER_KEY = keccak256(toUtf8Bytes("maaskit.bench.provider"));
const CUSTOMER_KEY = keccak256(toUtf8Bytes("maaskit.bench.customer"));
const START = "2025-01-01T00:00:00.000Z";
/** Calls in flight at once in the concurrent one-record-per-call run. */
const CONCURRENT = 32;

const here = path.dirname(fileURLToPath(import.meta.url));

function agreementFor(label: string, machine: Wallet) {
  return parseAgreement({
    agreementId: keccak256(toUtf8Bytes(`maaskit.bench/${label}`)),
    name: `bench ${label}`,
    parties: {
      provider: new Wallet(PROVIDER_KEY).address,
      customer: new Wallet(CUSTOMER_KEY).address,
    },
    machineId: "compressor-7",
    signers: [{ address: machine.address, validFrom: START }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: { model: "perUnit", unitPrice: "0.02" },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EURT", decimals: 6 },
    billingPeriod: { kind: "calendarMonth", timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: START,
    status: "active",
  });
}

async function signChain(
  n: number,
  binding: MeterRecordBinding,
  signer: Wallet,
): Promise<MeterRecord[]> {
  const out: MeterRecord[] = [];
  let chain = genesisChainState();
  for (const w of compressorWindows(n, "compressor-7", Date.parse(START))) {
    const unsigned = buildMeterRecord(w, { binding, chain, clock: "synchronised", channel: "air" });
    const record = await signMeterRecord(unsigned, { signer });
    out.push(record);
    chain = nextChainState(record);
  }
  return out;
}

interface LedgerRun {
  ms: number;
  cpuMs: number;
  accepted: number;
}

/**
 * Opens a fresh ledger and agreement, then submits the records `batch` at a time, with up to
 * `inFlight` calls issued and not yet resolved (1: each call awaited before the next; more:
 * the calls a gateway's concurrent writers make, which the ledger may commit together).
 */
async function submitAll(
  label: string,
  machine: Wallet,
  sign: (binding: MeterRecordBinding) => Promise<MeterRecord[]>,
  batch: number,
  dirs: string[],
  inFlight = 1,
): Promise<LedgerRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-ledger-"));
  dirs.push(dir);
  const ledger = embeddedLedger({ dir, clock: { now: () => new Date("2026-01-01T00:00:00Z") } });
  await ledger.ready;
  // Signature checks run on worker threads before the rules; loading them is not timed.
  await ledger.startVerifyThreads();
  const agreement = agreementFor(label, machine);
  const opened = await openAgreementWithConsent(ledger, agreement);
  const records = await sign({ agreementId: agreement.agreementId, ...opened.recordDomain });
  globalThis.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let accepted = 0;
  let next = 0;
  // Each worker issues the next call as soon as its previous one resolved; calls are issued
  // in seq order, and the ledger applies them in the order issued.
  const worker = async () => {
    while (next < records.length) {
      const i = next;
      next += batch;
      const r = await ledger.submitRecords({
        agreementId: agreement.agreementId,
        records: records.slice(i, i + batch),
      });
      accepted += r.accepted;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await ledger.close();
  if (accepted !== records.length)
    throw new Error(`ledger accepted ${accepted} of ${records.length}`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, accepted };
}

/**
 * Opens a fresh ledger, agreement and journal (fsync "always", as a gateway's), journals the
 * records (not timed), then times `createSettlementClient`'s delivery loop from start until
 * it has caught up with every record acknowledged: ledger calls, fsyncs and the journal's
 * acknowledgement entries included.
 */
async function deliverAll(
  label: string,
  machine: Wallet,
  sign: (binding: MeterRecordBinding) => Promise<MeterRecord[]>,
  maxBatch: number,
  dirs: string[],
): Promise<LedgerRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-client-"));
  dirs.push(dir);
  const ledger = embeddedLedger({
    dir: path.join(dir, "ledger"),
    clock: { now: () => new Date("2026-01-01T00:00:00Z") },
  });
  await ledger.ready;
  await ledger.startVerifyThreads();
  const agreement = agreementFor(label, machine);
  const opened = await openAgreementWithConsent(ledger, agreement);
  const records = await sign({ agreementId: agreement.agreementId, ...opened.recordDomain });
  const journal = await openJournal<MeterRecord>({
    dir: path.join(dir, "journal"),
    codec: meterRecordCodec,
  });
  await Promise.all(records.map((r) => journal.append(r)));
  const client = createSettlementClient({
    ledger,
    journal,
    delivery: { maxBatch, backoff: { initialMs: 1 } },
  });
  let delivered = 0;
  client.delivery!.events$.subscribe((e) => {
    if (e.type === "delivered") delivered++;
    if (e.type === "failed") log(`settlement: delivery failed at ${e.seq}: ${String(e.error)}`);
  });
  const caughtUp = firstValueFrom(
    client.delivery!.events$.pipe(filter((e) => e.type === "caughtUp" || e.type === "failed")),
  );
  globalThis.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  client.start();
  await caughtUp;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await client.stop();
  const head = await ledger.getRecordsHead(agreement.agreementId);
  const acked = journal.state().ackedThrough;
  await journal.close();
  await ledger.close();
  if (
    delivered !== records.length ||
    head.nextSeq !== records.length ||
    acked !== records.length - 1
  )
    throw new Error(
      `delivered ${delivered}, ledger head ${head.nextSeq}, acked through ${acked} of ${records.length}`,
    );
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, accepted: delivered };
}

interface GasFigure {
  figure: string;
  gas: number;
  perRecord?: number;
  calldataGas?: number;
  note?: string;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

/** Gas figures from bench/gas.json (written by `pnpm gas`), if present. */
function gasFigures(): { figures: Figure[]; details: unknown } {
  const file = path.join(here, "gas.json");
  if (!fs.existsSync(file))
    return { figures: [], details: { missing: "bench/gas.json (run `pnpm gas`)" } };
  const gas = JSON.parse(fs.readFileSync(file, "utf8")) as { figures: GasFigure[]; chain?: string };
  const out: Figure[] = [];
  const add = (f: GasFigure, value: number, name: string, base?: number, target?: number) =>
    out.push(
      figure({
        id: `settlement.gas.${slug(f.figure)}`,
        group: "Settlement (EVM gas, exact)",
        name,
        value,
        unit: "gas",
        ...(base === undefined
          ? {}
          : {
              baseline: {
                name: "plain prototype verifier (docs/toolchain.md)",
                value: base,
                unit: "gas",
              },
            }),
        ...(target === undefined
          ? {}
          : { target: { op: "<=" as const, value: target, on: "value" as const } }),
      }),
    );
  // Gas is exact, so the plain prototype's figures of docs/toolchain.md (ecrecover, seq, period and
  // prevHash checked per record) stand as the baseline although measured in an earlier run.
  for (const f of gas.figures) {
    const batch = /batch of (\d+)/.exec(f.figure)?.[1];
    if (f.perRecord !== undefined && f.figure.startsWith("record")) {
      const base =
        batch === "10"
          ? 17_100
          : batch === "100"
            ? 14_300
            : batch === undefined
              ? /first/.test(f.figure)
                ? 78_600
                : 44_800
              : undefined;
      add(f, f.perRecord, `per record: ${f.figure}`, base, batch === "100" ? 12_000 : undefined);
    } else if (/^settle a month from a statement \(2,?880/.test(f.figure)) {
      add(f, f.gas, f.figure, undefined, 200_000);
    }
  }
  // The live gateway (bench/gas-live.json, written by `pnpm gas` from deliveryGasLive.test.ts).
  const liveFile = path.join(here, "gas-live.json");
  let live: unknown = { missing: "bench/gas-live.json (run `pnpm gas`)" };
  if (fs.existsSync(liveFile)) {
    const l = JSON.parse(fs.readFileSync(liveFile, "utf8")) as {
      target: number;
      figures: GasFigure[];
    };
    live = l;
    const [held, asArrived] = l.figures;
    if (held?.perRecord !== undefined && asArrived?.perRecord !== undefined) {
      out.push(
        figure({
          id: "settlement.gas.live-gateway",
          group: "Settlement (EVM gas, exact)",
          name: `per record: ${held.figure}`,
          value: held.perRecord,
          unit: "gas",
          baseline: {
            name: "the same loop sending each record as it arrives (maxBatchDelayMs 0)",
            value: asArrived.perRecord,
            unit: "gas",
          },
          target: { op: "<=", value: l.target, on: "value" },
        }),
      );
    }
  }
  return { figures: out, details: { gas, live } };
}

export async function settlementBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const n = quick ? 600 : 3000;
  const rounds = quick ? 1 : 3;
  const machine = new Wallet(MACHINE_KEY);
  const dirs: string[] = [];
  try {
    // Sign once per binding: every run opens the same agreement on a fresh ledger.
    const signed = new Map<string, MeterRecord[]>();
    const sign = async (binding: MeterRecordBinding) => {
      const k = `${binding.agreementId}|${binding.chainId}|${binding.verifyingContract}`;
      let records = signed.get(k);
      if (records === undefined) {
        log(`settlement: signing ${n} records`);
        records = await signChain(n, binding, machine);
        signed.set(k, records);
      }
      return records;
    };

    log("settlement: warming up");
    await submitAll("bench", machine, sign, 100, dirs);

    const runs: Record<string, LedgerRun[]> = {
      batch100: [],
      single: [],
      concurrent: [],
      bare: [],
      clientBatch100: [],
      clientSingle: [],
    };
    const records = [...signed.values()][0]!;
    const typed = records.map((r) => {
      const t = meterRecordTypedData(r);
      const { EIP712Domain: _d, ...types } = t.types;
      return {
        domain: t.domain,
        types: types as Record<string, TypedDataField[]>,
        message: t.message,
        signature: r.signature,
      };
    });
    log(
      `settlement: ${rounds} round(s) of ${n} records: batches of 100, one per call (awaited, and ${CONCURRENT} in flight), bare verifyTypedData, journal → client (batches of 100, one per call)`,
    );
    for (let r = 0; r < rounds; r++) {
      runs.batch100!.push(await submitAll("bench", machine, sign, 100, dirs));
      runs.single!.push(await submitAll("bench", machine, sign, 1, dirs));
      runs.concurrent!.push(await submitAll("bench", machine, sign, 1, dirs, CONCURRENT));
      runs.clientBatch100!.push(await deliverAll("bench", machine, sign, 100, dirs));
      runs.clientSingle!.push(await deliverAll("bench", machine, sign, 1, dirs));
      globalThis.gc?.();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let ok = 0;
      for (const t of typed)
        if (verifyTypedData(t.domain, t.types, t.message, t.signature) === machine.address) ok++;
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (ok !== n) throw new Error(`bare verification accepted ${ok} of ${n}`);
      runs.bare!.push({ ms, cpuMs: (cpu.user + cpu.system) / 1000, accepted: ok });
    }
    const rate = (k: string) => perSecond(n, median(runs[k]!.map((x) => x.ms)));
    const cpuRate = (k: string) => perSecond(n, median(runs[k]!.map((x) => x.cpuMs)));
    const bare = rate("bare");
    const gas = gasFigures();
    const figures: Figure[] = [
      figure({
        id: "settlement.embedded.batch100",
        group: "Settlement",
        name: "embedded ledger: signed records accepted (submitRecords, 100 per call, fsynced)",
        value: rate("batch100"),
        unit: "records/s",
        baseline: {
          name: "bare ethers verifyTypedData of the same records",
          value: bare,
          unit: "records/s",
        },
        target: { op: ">=", value: 2000, on: "value" },
      }),
      figure({
        id: "settlement.embedded.concurrent",
        group: "Settlement",
        name: `embedded ledger: one record per submitRecords call, ${CONCURRENT} calls in flight (group commit: calls waiting together share one transaction and fsync; each resolves once durable)`,
        value: rate("concurrent"),
        unit: "records/s",
        baseline: { name: "bare ethers verifyTypedData", value: bare, unit: "records/s" },
        target: { op: ">=", value: 2000, on: "value" },
      }),
      figure({
        id: "settlement.embedded.single",
        group: "Settlement",
        name: "embedded ledger: one record per submitRecords call, each awaited before the next (one fsync each; nothing to group) (information only)",
        value: rate("single"),
        unit: "records/s",
        baseline: { name: "bare ethers verifyTypedData", value: bare, unit: "records/s" },
      }),
      figure({
        id: "settlement.client.batch100",
        group: "Settlement",
        name: "journal → createSettlementClient delivery loop → embedded ledger, maxBatch 100 (one range ack per call)",
        value: rate("clientBatch100"),
        unit: "records/s",
        baseline: {
          name: "the same delivery loop, one record per call (maxBatch 1, as before batching)",
          value: rate("clientSingle"),
          unit: "records/s",
        },
        target: { op: ">=", value: 2000, on: "value" },
      }),
      ...gas.figures,
    ];
    return {
      figures,
      details: {
        records: n,
        rounds,
        recordsPerCpuSecond: {
          batch100: cpuRate("batch100"),
          single: cpuRate("single"),
          concurrent: cpuRate("concurrent"),
          bare: cpuRate("bare"),
          clientBatch100: cpuRate("clientBatch100"),
          clientSingle: cpuRate("clientSingle"),
        },
        runsMs: Object.fromEntries(
          Object.entries(runs).map(([k, v]) => [k, v.map((x) => Math.round(x.ms))]),
        ),
        gas: gas.details,
      },
    };
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
