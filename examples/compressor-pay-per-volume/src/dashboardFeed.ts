import {
  createMeterRecordVerifier,
  type MeterRecord,
  type MeterRecordVerifier,
  type MeterWindow,
  meterRecordDigest,
  type OeeRatio,
  type OeeResult,
  type Reading,
} from "@maaskit/metering";
import {
  type Agreement,
  billingPeriodAt,
  type Invoice,
  type InvoiceLine,
  priceRecords,
} from "@maaskit/settlement";
import { createChartSeries } from "./dashboard/chartSeries.js";
import type { Dashboard, DashboardSnapshot } from "./dashboard/server.js";

/** Human label of an invoice line. */
export function lineLabel(l: InvoiceLine): string {
  switch (l.kind) {
    case "usage":
      return `air tier ${(l.tier ?? 0) + 1}: ${l.quantity?.value.toFixed()} m³ × ${l.unitPrice?.toFixed()}`;
    case "included":
      return `included volume ${l.quantity?.value.toFixed()} m³`;
    case "baseFee":
      return "base fee";
    case "minimumTopUp":
      return "minimum commitment top-up";
    case "slaCredit":
      return `availability SLA credit (${l.rate?.times(100).toFixed()} %)`;
    default:
      return l.kind;
  }
}

/**
 * Turns the gateway's readings, records, invoices and logs into dashboard snapshots: live
 * values, records with their verification state (checked here, independently, as they are
 * produced), the running invoice of the open billing period (the tariff applied to the
 * records so far), OEE, maintenance and the ledger's health. Pushes at most every 200 ms.
 */
export function createDashboardFeed(
  dashboard: Dashboard,
  machineId: string,
  backend: string,
  /** `filterThreshold`: the maintenance plan's filter trigger (bar), drawn on the filter chart. */
  options: { filterThreshold?: string } = {},
) {
  const charts = createChartSeries(options);
  let agreement: Agreement | undefined;
  let verifier: MeterRecordVerifier | undefined;
  const live: { flow?: string; flowUnit?: string; volumeRegister?: string; state?: string } = {};
  let simulatedTime: string | undefined;
  const records: DashboardSnapshot["records"][number][] = [];
  let recordsTotal = 0;
  let periodRecords: MeterRecord[] = [];
  let invoice: DashboardSnapshot["invoice"];
  let oee: DashboardSnapshot["oee"];
  const maintenance: {
    status: string;
    workOrders: DashboardSnapshot["maintenance"]["workOrders"][number][];
  } = {
    status: "ok",
    workOrders: [],
  };
  const ledger = { backend, healthy: true, detail: undefined as string | undefined };
  let timer: NodeJS.Timeout | undefined;

  const push = () => {
    timer = undefined;
    dashboard.update({
      machineId,
      ...(simulatedTime ? { simulatedTime } : {}),
      live: { ...live },
      records: [...records].reverse(),
      recordsTotal,
      ...(invoice ? { invoice } : {}),
      ...(oee ? { oee } : {}),
      maintenance: { status: maintenance.status, workOrders: [...maintenance.workOrders] },
      ledger: {
        backend: ledger.backend,
        healthy: ledger.healthy,
        ...(ledger.detail ? { detail: ledger.detail } : {}),
      },
      charts: charts.snapshot(),
    });
  };
  const schedule = () => {
    timer ??= setTimeout(push, 200);
  };
  const showInvoice = (inv: Invoice, final: boolean) => {
    invoice = {
      period: `${inv.period.start.toISOString().slice(0, 10)} – ${inv.period.end.toISOString().slice(0, 10)}`,
      currency: inv.currency.symbol,
      lines: inv.lines.map((l) => ({ label: lineLabel(l), amount: l.amount.toFixed(2) })),
      total: inv.total.toFixed(2),
      final,
    };
  };

  return {
    agreement(a: Agreement) {
      agreement = a;
      verifier = createMeterRecordVerifier({ signers: a.signers.map((s) => s.address) });
      schedule();
    },
    reading(r: Reading) {
      simulatedTime = r.sourceTime.toISOString().slice(0, 16).replace("T", " ");
      charts.reading(r);
      const v = String(r.value);
      if (r.channel === "flow") {
        live.flow = v;
        live.flowUnit = r.unit ?? "";
      } else if (r.channel === "volume") live.volumeRegister = v;
      else if (r.channel === "state") live.state = v;
      schedule();
    },
    record(rec: MeterRecord, window?: MeterWindow<OeeResult>) {
      recordsTotal += 1;
      const check = verifier?.check(rec);
      const flags = Object.entries(rec.flags)
        .filter(([, on]) => on)
        .map(([k]) => k)
        .join(", ");
      records.push({
        seq: String(rec.seq),
        periodStart: rec.periodStart.toISOString().slice(0, 16),
        periodEnd: rec.periodEnd.toISOString().slice(11, 16),
        volume: rec.quantity.value.toFixed(3),
        flags,
        verified: check === undefined ? "pending" : check.valid ? "valid" : "invalid",
        acknowledged: false,
      });
      // the page pages through them; a month of hourly windows is ~750
      if (records.length > 5000) records.splice(0, records.length - 5000);
      charts.record(rec, window);
      const o = window?.oee;
      if (o) {
        const ratio = (r: OeeRatio) => (r.defined ? r.value.toFixed() : undefined);
        oee = {
          ...(o.availability.defined ? { availability: ratio(o.availability) } : {}),
          ...(o.effectiveness.defined ? { effectiveness: ratio(o.effectiveness) } : {}),
          ...(o.quality.defined ? { quality: ratio(o.quality) } : {}),
          ...(o.oee.defined ? { oee: ratio(o.oee) } : {}),
        };
      }
      // A record outside the agreement's term belongs to no billing period: nothing to price.
      const inTerm =
        agreement !== undefined &&
        rec.periodStart.getTime() >= agreement.start.getTime() &&
        (agreement.end === undefined || rec.periodStart.getTime() < agreement.end.getTime());
      if (agreement && inTerm) {
        const period = billingPeriodAt(agreement, rec.periodStart);
        periodRecords = periodRecords.filter(
          (r) => r.periodStart.getTime() >= period.start.getTime(),
        );
        periodRecords.push(rec);
        try {
          const priced = priceRecords(
            agreement.tariff,
            periodRecords.map((r) => ({ ...r, hash: meterRecordDigest(r) })),
            { period, currency: agreement.currency, agreementId: agreement.agreementId },
          );
          showInvoice(priced, false);
          charts.priced(rec, priced, agreement);
        } catch (err) {
          ledger.detail = String(err);
        }
      }
      schedule();
    },
    /** The ledger acknowledged records up to `seq`. */
    acknowledged(seq: number) {
      for (const r of records)
        if (Number(r.seq) <= seq && !r.acknowledged) Object.assign(r, { acknowledged: true });
      schedule();
    },
    invoice(inv: Invoice, final: boolean) {
      showInvoice(inv, final);
      schedule();
    },
    log(e: { event: string; [k: string]: unknown }) {
      if (e.event === "delivery.retrying" || e.event === "delivery.failed") {
        ledger.healthy = false;
        ledger.detail = String(e.detail ?? e.event);
      } else if (e.event === "period.settled") {
        ledger.healthy = true;
        ledger.detail = undefined;
      } else if (e.event === "maintenance.advisory") {
        maintenance.status = `${e.condition}: ${e.severity}`;
      } else if (e.event === "maintenance.request") {
        maintenance.workOrders.push({
          id: String(e.id),
          state: "requested",
          serviceType: String(e.serviceType),
        });
      } else if (e.event === "workOrder.completed" || e.event === "workOrder.paid") {
        const w = maintenance.workOrders.find((x) => x.id === e.id);
        if (w) {
          const i = maintenance.workOrders.indexOf(w);
          maintenance.workOrders[i] = {
            ...w,
            state: e.event === "workOrder.paid" ? "paid" : "completed",
            ...(e.amount ? { amount: String(e.amount) } : {}),
          };
        }
      }
      schedule();
    },
    workOrders(list: readonly { id: string; state: string; amount?: string }[]) {
      for (const w of list) {
        const i = maintenance.workOrders.findIndex((x) => x.id === w.id);
        const row = {
          id: w.id,
          state: w.state,
          serviceType: i >= 0 ? maintenance.workOrders[i]!.serviceType : "",
          ...(w.amount ? { amount: w.amount } : {}),
        };
        if (i >= 0) maintenance.workOrders[i] = row;
        else maintenance.workOrders.push(row);
      }
      push();
    },
    flush: push,
  };
}
