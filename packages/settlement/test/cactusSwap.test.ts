import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PluginRegistry } from "@hyperledger/cactus-core";
import {
  type DeliveryEvent,
  dec,
  type MeterRecord,
  meterRecordCodec,
  openJournal,
} from "@maaskit/metering";
import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { cactusLedger, ledgerConnectorPlugin } from "../src/cactus.js";
import {
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
} from "../src/conformance/ledgerScenario.js";
import { createSettlementClient } from "../src/createSettlementClient.js";
import type { LedgerEvent } from "../src/ledgerEvents.js";
import { embeddedLedger } from "../src/ledgers/embedded/embeddedLedger.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-cactus-swap-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const INSTANCE = "maaskit-settlement";

describe("cactusLedger in a running settlement client", () => {
  it("behavior: replacing the registry entry swaps the backend; the same journal and delivery loop keep delivering", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const ledgerDir = await tempDir();
    const backendA = embeddedLedger({ dir: ledgerDir, clock });
    const registry = new PluginRegistry({
      plugins: [ledgerConnectorPlugin(backendA, { instanceId: INSTANCE })],
    });
    const ledger = cactusLedger({ registry, connector: INSTANCE, pollInterval: 0 });

    // The metering side: one journal, one client, one delivery loop — never touched below.
    const journal = await openJournal<MeterRecord>({
      dir: await tempDir(),
      codec: meterRecordCodec,
    });
    const client = createSettlementClient({
      ledger,
      journal,
      delivery: { backoff: { initialMs: 1, maxMs: 20, jitter: 0 } },
    });
    const delivery: DeliveryEvent<MeterRecord>[] = [];
    client.delivery!.events$.subscribe((e) => delivery.push(e));
    const seen: LedgerEvent[] = [];
    client.events$.subscribe((e) => seen.push(e));
    const caughtUpThrough = (seq: number) =>
      firstValueFrom(
        client.delivery!.events$.pipe(
          filter((e) => e.type === "caughtUp" && e.ackedThrough === seq),
        ),
      );

    const agreement = scenarioAgreement("cactus/swap");
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    const id = agreement.agreementId;
    client.start();

    clock.set("2025-01-02T00:05:00Z");
    const day0 = caughtUpThrough(3);
    for (const r of records.slice(0, 4)) await journal.append(r);
    await day0;
    const invoice0 = await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) });

    // The swap: the operator takes connector A down (an upgrade, a move) while the gateway
    // keeps metering; records journaled meanwhile are retried (settlement.ledger.closed /
    // .unavailable are retryable), then delivered to connector B.
    await backendA.close();
    const retried = firstValueFrom(
      client.delivery!.events$.pipe(filter((e) => e.type === "retrying")),
    );
    clock.set("2025-01-03T00:05:00Z");
    await journal.append(records[4]!);
    const retry = await retried;
    expect((retry as { error: { code: string } }).error.code).toMatch(
      /^settlement\.ledger\.(closed|unavailable)$/,
    );
    const backendB = embeddedLedger({ dir: ledgerDir, clock });
    const day1 = caughtUpThrough(7);
    registry.add(ledgerConnectorPlugin(backendB, { instanceId: INSTANCE }), true);
    expect(registry.getPlugins().length).toBe(1);
    for (const r of records.slice(5, 8)) await journal.append(r);
    await day1;
    const invoice1 = await ledger.settlePeriod({ agreementId: id, period: scenarioDay(1) });

    expect(client.delivery!.running).toBe(true);
    expect(journal.state().ackedThrough).toBe(7);
    expect(delivery.filter((e) => e.type === "failed")).toEqual([]);
    expect((await backendB.getRecordsHead(id)).nextSeq).toBe(8);
    const invoices = await backendB.getInvoices(id);
    expect(invoices.map((i) => i.total.toFixed())).toEqual([
      invoice0.total.toFixed(),
      invoice1.total.toFixed(),
    ]);
    // The client's event stream ran on across the swap: backend B's history, each event once.
    expect(seen).toEqual(await backendB.getEvents());
    expect(seen.filter((e) => e.type === "PeriodSettled").length).toBe(2);

    await client.stop();
    await ledger.close();
    await journal.close();
    await backendB.close();
  });

  it("behavior: a connector with another history is another ledger: events$ follows it from its start", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const backendA = embeddedLedger({ dir: await tempDir(), clock });
    const backendB = embeddedLedger({ dir: await tempDir(), clock });
    await openAgreementWithConsent(backendB, scenarioAgreement("cactus/other-ledger"));
    const registry = new PluginRegistry({
      plugins: [ledgerConnectorPlugin(backendA, { instanceId: INSTANCE })],
    });
    const ledger = cactusLedger({ registry, connector: INSTANCE, pollInterval: 0 });
    const seen: LedgerEvent[] = [];
    ledger.events$.subscribe((e) => seen.push(e));
    await openAgreementWithConsent(ledger, scenarioAgreement("cactus/first-ledger"));
    registry.add(ledgerConnectorPlugin(backendB, { instanceId: INSTANCE }), true);
    await ledger.deposit({
      agreementId: scenarioAgreement("cactus/other-ledger").agreementId,
      amount: dec("5"),
      by: scenarioAgreement("cactus/other-ledger").parties.customer,
    });
    const a = await backendA.getEvents();
    const b = await backendB.getEvents();
    expect(seen).toEqual([...a, ...b]);
    expect(await ledger.getEvents()).toEqual(b);
    await ledger.close();
    await backendA.close();
    await backendB.close();
  });
});
