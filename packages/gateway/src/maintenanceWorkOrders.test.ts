import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseServiceAgreement } from "@maaskit/maintenance";
import { dec, type Reading } from "@maaskit/metering";
import { embeddedLedger } from "@maaskit/settlement";
import { VirtualTimeScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { MachineProfile } from "./machineProfile.js";
import { type MaintenanceEvent, startMaintenanceWorkOrders } from "./maintenanceWorkOrders.js";
import {
  feed,
  MACHINE,
  startTestGateway,
  testAgreement,
  testProfile,
  testSigner,
  volume,
} from "./testSupport.js";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const MIN = 60_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-gw-maint-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const profile: MachineProfile = {
  ...testProfile,
  channels: {
    ...testProfile.channels,
    dp: { kind: "value", nodeId: "ns=1;s=DP", unit: "BAR" },
    hours: { kind: "value", nodeId: "ns=1;s=H", unit: "HUR" },
  },
  maintenance: {
    filter: { channel: "dp", above: "0.05", clearAt: "0.03", minDurationMs: 30 * MIN },
    service: { channel: "hours", runHours: "10", months: 12 },
  },
};

function value(channel: string, at: number, v: string, unit: string): Reading {
  return {
    kind: "reading",
    machineId: MACHINE,
    channel,
    sourceTime: new Date(at),
    value: dec(v),
    unit,
    quality: "good",
  } as Reading;
}

const parties = testAgreement().parties;
const serviceAgreement = parseServiceAgreement({
  id: "service-test",
  machineId: MACHINE,
  customer: parties.customer,
  provider: parties.provider,
  arbiter: `0x${"03".repeat(20)}`,
  machineSigner: testSigner.address,
  currency: { symbol: "EUR", decimals: 2 },
  prices: { filterChange: "180.00", service: "640.00" },
  responseHours: 24,
  completionHours: 72,
});

async function start(actForAllParties: boolean) {
  // ledger time = the machine's (work-order deadlines are checked against it)
  const clock = { now: () => new Date(T0) };
  const ledger = embeddedLedger({ dir: join(dir, "ledger"), clock });
  const scheduler = new VirtualTimeScheduler();
  const t = await startTestGateway({ ledger, dataDir: join(dir, "data"), scheduler, profile });
  const technician = vi.fn(async () => ({
    report: "done",
    partsUsed: ["air filter element"],
    technician: "test field service",
  }));
  const maintenance = await startMaintenanceWorkOrders({
    gateway: t.gateway,
    ledger,
    profile,
    serviceAgreement,
    signer: testSigner,
    dataDir: join(dir, "data"),
    technician,
    clock,
    actForAllParties,
  });
  const events: MaintenanceEvent[] = [];
  maintenance.events$.subscribe((e) => events.push(e));
  const source = feed(t.gateway, t.records);
  return { ...t, ledger, maintenance, events, technician, source };
}

describe("startMaintenanceWorkOrders", () => {
  test("behavior: the filter's differential pressure above its trigger for 30 min orders one filter change in escrow; the technician does it; the machine's own readings showing it cleared confirm and pay it — once; the interval service is paid on the customer's confirmation", async () => {
    const { gateway, ledger, maintenance, events, technician, source } = await start(true);
    // 2 h: dp 0.06 for the first hour (above 0.05 for > 30 min), then 0.02 (below 0.03);
    // run hours 0 → 12 (the 10 h service comes due once).
    for (let i = 0; i <= 24; i++) {
      const at = T0 + i * 5 * MIN;
      source.next(volume(at, String(1000 + i)));
      source.next(value("dp", at, i < 12 ? "0.06" : "0.02", "BAR"));
      source.next(value("hours", at, String(i / 2), "HUR"));
    }
    await vi.waitFor(() =>
      expect(events.filter((e) => e.type === "workOrder.paid")).toHaveLength(2),
    );
    const paid = events.flatMap((e) => (e.type === "workOrder.paid" ? [e] : []));
    const requests = events.flatMap((e) => (e.type === "maintenance.request" ? [e.request] : []));
    expect(requests.map((r) => r.serviceType).sort()).toEqual(["filterChange", "service"]);
    const byType = (t: string) =>
      paid.find((e) => e.id === requests.find((r) => r.serviceType === t)!.id)!;
    expect(byType("filterChange")).toMatchObject({ by: "machine" });
    expect(byType("filterChange").amount!.toFixed(2)).toBe("180.00");
    expect(byType("service")).toMatchObject({ by: "customer" });
    expect(byType("service").amount!.toFixed(2)).toBe("640.00");
    expect(technician).toHaveBeenCalledTimes(2);
    expect(maintenance.orders.list().map((w) => w.state)).toEqual(["paid", "paid"]);
    // every step is in the signed history
    const types = maintenance.history.entries().map((e) => e.type);
    expect(types.filter((k) => k === "workOrder.funded")).toHaveLength(2);
    expect(types.filter((k) => k === "workOrder.paid")).toHaveLength(2);
    await maintenance.stop();
    await gateway.stop();
    await ledger.close();
  });

  test("default: without actForAllParties the gateway only requests and quotes; the customer's funding and the provider's work are theirs", async () => {
    const { gateway, ledger, maintenance, events, technician, source } = await start(false);
    for (let i = 0; i <= 12; i++) {
      const at = T0 + i * 5 * MIN;
      source.next(value("dp", at, "0.06", "BAR"));
    }
    await vi.waitFor(() => expect(maintenance.orders.list()).toHaveLength(1));
    await vi.waitFor(() => expect(maintenance.orders.list()[0]!.state).toBe("quoted"));
    expect(events.some((e) => e.type === "workOrder.paid")).toBe(false);
    expect(technician).not.toHaveBeenCalled();
    await maintenance.stop();
    await gateway.stop();
    await ledger.close();
  });
});
