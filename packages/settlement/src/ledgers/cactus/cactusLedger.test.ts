import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PluginRegistry } from "@hyperledger/cactus-core";
import { dec } from "@maaskit/metering";
import { firstValueFrom, take, toArray } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import { describeLedgerBackend } from "../../conformance/describeLedgerBackend.js";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioRecords,
} from "../../conformance/ledgerScenario.js";
import { runLedgerScenario } from "../../conformance/runLedgerScenario.js";
import { openAgreementWithConsent } from "../../openAgreementWithConsent.js";
import { embeddedLedger } from "../embedded/embeddedLedger.js";
import { cactusLedger } from "./cactusLedger.js";
import { ledgerConnectorPlugin } from "./ledgerConnectorPlugin.js";

// The conformance suite through Cactus: cactusLedger → PluginRegistry → ledgerConnectorPlugin
// → embedded ledger, every call a JSON transact.
describeLedgerBackend("cactus over embedded", async ({ clock }) => {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-cactus-"));
  const backend = embeddedLedger({ dir, clock });
  const registry = new PluginRegistry({
    plugins: [ledgerConnectorPlugin(backend, { instanceId: "maaskit-settlement" })],
  });
  return {
    ledger: cactusLedger({ registry, connector: "maaskit-settlement", pollInterval: 0 }),
    cleanup: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-cactus-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("cactusLedger", () => {
  it("default: events$ and getEvents give exactly the wrapped backend's events", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const backend = embeddedLedger({ dir: await tempDir(), clock });
    const registry = new PluginRegistry({
      plugins: [ledgerConnectorPlugin(backend, { instanceId: "a" })],
    });
    const ledger = cactusLedger({ registry, connector: "a", pollInterval: 0 });
    const seen: unknown[] = [];
    const sub = ledger.events$.subscribe((e) => seen.push(e));
    await runLedgerScenario(ledger, clock);
    const direct = await backend.getEvents();
    expect(direct.length).toBeGreaterThan(20);
    expect(seen).toEqual(direct);
    expect(await ledger.getEvents()).toEqual(direct);
    sub.unsubscribe();
    await ledger.close();
    await backend.close();
  });

  it("behavior: events written past the cactus ledger arrive by polling", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const backend = embeddedLedger({ dir: await tempDir(), clock });
    const registry = new PluginRegistry({
      plugins: [ledgerConnectorPlugin(backend, { instanceId: "a" })],
    });
    const ledger = cactusLedger({ registry, connector: "a", pollInterval: 5 });
    const agreement = scenarioAgreement("cactus/poll");
    const got = firstValueFrom(ledger.events$.pipe(take(1), toArray()));
    // Written straight to the backend, as another Cactus application would.
    await openAgreementWithConsent(backend, agreement);
    expect((await got)[0]).toMatchObject({
      type: "AgreementOffered",
      agreementId: agreement.agreementId,
    });
    await ledger.close();
    await backend.close();
  });

  it("behavior: finds the connector by package name or predicate, skipping non-connectors", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const backend = embeddedLedger({ dir: await tempDir(), clock });
    const keychainLike = {
      getInstanceId: () => "k",
      getPackageName: () => "@example/not-a-connector",
      onPluginInit: async () => undefined,
    };
    const registry = new PluginRegistry({
      plugins: [
        keychainLike,
        ledgerConnectorPlugin(backend, { instanceId: "a", packageName: "@example/ledger" }),
      ],
    });
    const agreement = scenarioAgreement("cactus/select");
    const byName = cactusLedger({ registry, connector: "@example/ledger" });
    await openAgreementWithConsent(byName, agreement);
    const byPredicate = cactusLedger({
      registry,
      connector: (p) => p.getInstanceId() === "a",
    });
    expect((await byPredicate.getAgreement(agreement.agreementId)).status).toBe("active");
    await expect(
      cactusLedger({ registry, connector: "k" }).getBalance(agreement.agreementId),
    ).rejects.toMatchObject({ code: "settlement.ledger.unavailable" });
    await byName.close();
    await byPredicate.close();
    await backend.close();
  });

  it("error: no connector, a connector without the maaskit protocol, a closed ledger", async () => {
    const registry = new PluginRegistry();
    const ledger = cactusLedger({ registry, connector: "missing" });
    await expect(ledger.getBalance(`0x${"ab".repeat(32)}`)).rejects.toMatchObject({
      code: "settlement.ledger.unavailable",
      details: { connector: "missing" },
    });
    // A real Cactus-shaped ledger connector that speaks another protocol.
    registry.add({
      getInstanceId: () => "other",
      getPackageName: () => "@example/other-connector",
      onPluginInit: async () => undefined,
      deployContract: async () => ({}),
      transact: async () => ({}),
      getConsensusAlgorithmFamily: async () =>
        "org.hyperledger.cactus.consensusalgorithm.PROOF_OF_WORK",
      hasTransactionFinality: async () => false,
    } as never);
    await expect(
      cactusLedger({ registry, connector: "other" }).getBalance(`0x${"ab".repeat(32)}`),
    ).rejects.toMatchObject({
      code: "settlement.ledger.unavailable",
      details: { expected: "maaskit.ledger/1" },
    });
    await ledger.close();
    await expect(ledger.getBalance(`0x${"ab".repeat(32)}`)).rejects.toMatchObject({
      code: "settlement.ledger.closed",
    });
  });

  it("behavior: ledger errors keep their code and details across the connector", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const backend = embeddedLedger({ dir: await tempDir(), clock });
    const registry = new PluginRegistry({
      plugins: [ledgerConnectorPlugin(backend, { instanceId: "a" })],
    });
    const ledger = cactusLedger({ registry, connector: "a" });
    const agreement = scenarioAgreement("cactus/errors");
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    await ledger.submitRecords({ agreementId: agreement.agreementId, records: [records[0]!] });
    let direct: unknown;
    await backend
      .submitRecords({ agreementId: agreement.agreementId, records: [records[2]!] })
      .catch((e) => {
        direct = e;
      });
    let viaCactus: unknown;
    await ledger
      .submitRecords({ agreementId: agreement.agreementId, records: [records[2]!] })
      .catch((e) => {
        viaCactus = e;
      });
    const pick = (e: unknown) => {
      const { code, shortMessage, details } = e as Record<string, unknown>;
      return { code, shortMessage, details };
    };
    expect(pick(viaCactus)).toEqual(pick(direct));
    expect((viaCactus as { code: string }).code).toBe("settlement.record.seqGap");
    const w = conformanceWallets();
    await expect(
      ledger.deposit({
        agreementId: agreement.agreementId,
        amount: dec("0.0000001"),
        by: w.customer.address,
      }),
    ).rejects.toMatchObject({ code: "settlement.funds.invalidAmount" });
    await ledger.close();
    await backend.close();
  });
});
