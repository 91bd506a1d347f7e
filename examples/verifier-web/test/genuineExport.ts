import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildMeterRecord,
  dec,
  genesisChainState,
  type LogEntry,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterWindow,
  meterRecordToJson,
  nextChainState,
  signLogEntry,
  signMeterRecord,
} from "@maaskit/metering";
import {
  type Agreement,
  agreementToJson,
  embeddedLedger,
  type Invoice,
  invoiceToJson,
  openAgreementWithConsent,
  parseAgreement,
} from "@maaskit/settlement";
import { Wallet } from "ethers";

// Fixed, public test keys (never use them for anything of value).
const MACHINE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const PROVIDER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const CUSTOMER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

export const DAY_START = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;

/** What the vendor hands the customer, as file texts, and what the ledger holds. */
export interface GenuineExport {
  readonly records: string;
  readonly invoice: string;
  readonly agreement: string;
  readonly checkpoint: string;
  /** The machine's signed maintenance history (JSON Lines of log entries). */
  readonly history: string;
  readonly historyEntries: readonly LogEntry[];
  readonly recordList: readonly MeterRecord[];
  readonly ledgerInvoice: Invoice;
  readonly agreementValue: Agreement;
  /** A record of another agreement, signed by the same machine key (for the foreign-record case). */
  readonly foreignRecord: string;
}

function agreementJson(agreementId: string) {
  const machine = new Wallet(MACHINE_KEY);
  return {
    agreementId,
    name: "compressor-7, pay per m³ (verifier test)",
    parties: {
      provider: new Wallet(PROVIDER_KEY).address,
      customer: new Wallet(CUSTOMER_KEY).address,
    },
    machineId: "compressor-7",
    signers: [{ address: machine.address, validFrom: "2025-01-01T00:00:00.000Z" }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: {
        model: "graduated",
        tiers: [{ upTo: "100", unitPrice: "0.025" }, { unitPrice: "0.0213" }],
      },
      includedVolume: "20",
      baseFee: "4.5",
      minimumCommitment: "0",
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: "2025-01-01T00:00:00.000Z",
    status: "active",
  };
}

/**
 * Hour `i` of a day of compressed air: a volume register, one window with a gap, one with
 * a register reset, some with quarantined readings — what the chart must mark.
 */
function hourWindow(i: number, registerStart: ReturnType<typeof dec>): MeterWindow {
  const volume = dec(7 + ((i * 37) % 11)).plus(dec(i % 4).div(8));
  const reset = i === 15;
  const end = reset ? volume.minus("0.5") : registerStart.plus(volume);
  const start = new Date(DAY_START + i * HOUR);
  const stop = new Date(DAY_START + (i + 1) * HOUR);
  return {
    kind: "window",
    machineId: "compressor-7",
    start,
    end: stop,
    usage: [
      {
        channel: "air",
        quantity: { value: volume, unit: "MTQ", basis: "ISO1217-FAD" },
        register: { start: registerStart, end },
        flags: reset ? { reset: true } : {},
      },
    ],
    gaps:
      i === 9
        ? [
            {
              kind: "gap",
              machineId: "compressor-7",
              channel: "air",
              start: new Date(start.getTime() + 600_000),
              end: new Date(start.getTime() + 1_200_000),
              reason: "source.disconnected",
            },
          ]
        : [],
    quarantined: i % 7 === 3 ? 2 : 0,
  } as MeterWindow;
}

async function signDay(binding: MeterRecordBinding, hours: number): Promise<MeterRecord[]> {
  const signer = new Wallet(MACHINE_KEY);
  const records: MeterRecord[] = [];
  let chain = genesisChainState();
  let register = dec("1000");
  for (let i = 0; i < hours; i++) {
    const window = hourWindow(i, register);
    register = window.usage[0]!.register!.end;
    const record = await signMeterRecord(
      buildMeterRecord(window, { binding, chain, clock: "synchronised", channel: "air" }),
      { signer },
    );
    records.push(record);
    chain = nextChainState(record);
  }
  return records;
}

/**
 * A genuine export made with the real libraries: 24 hourly records signed by the machine
 * key, accepted and settled by an embedded ledger into the day's invoice.
 */
export async function genuineExport(): Promise<GenuineExport> {
  const agreement = parseAgreement(agreementJson(`0x${"7a".repeat(32)}`));
  const dir = mkdtempSync(join(tmpdir(), "maaskit-verifier-web-"));
  const ledger = embeddedLedger({ dir });
  try {
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await signDay({ agreementId: agreement.agreementId, ...recordDomain }, 24);
    await ledger.submitRecords({ agreementId: agreement.agreementId, records });
    const invoice = await ledger.settlePeriod({
      agreementId: agreement.agreementId,
      period: { start: new Date(DAY_START), end: new Date(DAY_START + 24 * HOUR) },
    });
    const head = await ledger.getRecordsHead(agreement.agreementId);
    const historyEntries = await maintenanceHistory();
    const other = await signDay({ agreementId: `0x${"0f".repeat(32)}`, ...recordDomain }, 6);
    return {
      records: jsonLines(records),
      invoice: JSON.stringify(invoiceToJson(invoice)),
      agreement: JSON.stringify(agreementToJson(agreement)),
      checkpoint: JSON.stringify({
        agreementId: head.agreementId,
        nextSeq: head.nextSeq,
        headHash: head.headHash,
      }),
      history: `${historyEntries.map((e) => JSON.stringify(e)).join("\n")}\n`,
      historyEntries,
      recordList: records,
      ledgerInvoice: invoice,
      agreementValue: agreement,
      foreignRecord: JSON.stringify(meterRecordToJson(other[5]!)),
    };
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A filter change during the day, as @maaskit/maintenance writes it to the signed history. */
async function maintenanceHistory(): Promise<LogEntry[]> {
  const key = new Wallet(PROVIDER_KEY);
  const entries: LogEntry[] = [];
  const add = async (type: string, hour: number, payload: unknown) => {
    entries.push(
      await signLogEntry(
        {
          logId: "maintenance/compressor-7",
          type,
          at: new Date(DAY_START + hour * HOUR),
          payload,
          head: entries.at(-1),
        },
        key,
      ),
    );
  };
  const id = "compressor-7/filter/1";
  await add("trigger", 6, { conditionId: "filter", value: "0.62", unit: "BAR" });
  await add("serviceRequest", 6.5, {
    id,
    conditionId: "filter",
    serviceType: "filterChange",
    priority: "high",
    faultStart: new Date(DAY_START + 6 * HOUR).toISOString(),
    errorCode: "filter.dp.high",
    description: "Filter differential pressure 0.62 bar above its 0.6 bar threshold",
  });
  await add("workOrder.opened", 7, { workOrderId: id });
  await add("workOrder.paid", 12, { workOrderId: id, amount: "120", currency: "EUR" });
  await add("service.performed", 12.5, {
    serviceType: "filterChange",
    conditionId: "filter",
    workOrderId: id,
  });
  return entries;
}

export function jsonLines(records: readonly MeterRecord[]): string {
  return `${records.map((r) => JSON.stringify(meterRecordToJson(r))).join("\n")}\n`;
}
