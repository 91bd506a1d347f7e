import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedLedger, type LedgerEvent } from "@maaskit/settlement";
import { scenarioClock } from "@maaskit/settlement/conformance";
import { httpLedger } from "@maaskit/settlement/http";
import { afterAll, describe, expect, it } from "vitest";
import { createLedgerServer, tokenTable } from "../src/index.js";
import { fleetGateway, fleetRecords, openFleetAgreement } from "./fleet.js";
import { OPERATOR_TOKEN } from "./serverHarness.js";

const auth = tokenTable({ tokens: [{ name: "op", token: OPERATOR_TOKEN, role: "operator" }] });
const clock = scenarioClock("2025-01-03T00:00:00Z");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The service on `dir` at `port` (0: any); `stop` closes it and its ledger. */
async function up(dir: string, port: number) {
  const backend = embeddedLedger({ dir, clock });
  await backend.ready;
  const server = createLedgerServer({ backend, auth, limits: { ratePerSecond: 100_000 } });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await backend.close();
    },
  };
}

describe("httpLedger events$ across a service restart", () => {
  it("adversary: a subscriber that loses the service and reconnects misses nothing and sees nothing twice", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ledger-events-"));
    dirs.push(dir);
    let service = await up(dir, 0);
    const port = service.port;
    const ledger = httpLedger({
      url: `http://127.0.0.1:${port}`,
      auth: OPERATOR_TOKEN,
      pollWaitSeconds: 1,
    });
    const seen: LedgerEvent[] = [];
    const sub = ledger.events$.subscribe((e) => seen.push(e));
    const g = fleetGateway("events", 0);
    const records = await fleetRecords(g, await openFleetAgreement(ledger, g), 12);
    await ledger.submitRecords({
      agreementId: g.agreement.agreementId,
      records: records.slice(0, 4),
    });

    await service.stop(); // the service is gone while the client long-polls
    await new Promise((r) => setTimeout(r, 300));
    service = await up(dir, port);
    // someone else writes while this subscriber reconnects
    const other = httpLedger({ url: `http://127.0.0.1:${port}`, auth: OPERATOR_TOKEN });
    await other.submitRecords({
      agreementId: g.agreement.agreementId,
      records: records.slice(4, 12),
    });
    await other.close();

    const all = await ledger.getEvents();
    const deadline = Date.now() + 20_000;
    while (seen.length < all.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500)); // one more poll: nothing may arrive twice
    expect(seen).toEqual(all);
    expect(seen.filter((e) => e.type === "RecordAccepted")).toHaveLength(12);
    sub.unsubscribe();
    await ledger.close();
    await service.stop();
  }, 60_000);
});
