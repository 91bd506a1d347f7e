import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec } from "@maaskit/metering";
import { startAnvil } from "@maaskit/settlement/anvil";
import { keccak256, toUtf8Bytes } from "ethers";
import { describe, expect, test } from "vitest";
import { startEvmLedger } from "./evm.js";

describe("startEvmLedger", () => {
  test("args: stateFile — a restart on the same node reuses the contracts and their state", async () => {
    const anvil = await startAnvil({
      args: ["--timestamp", String(Date.UTC(2024, 11, 1) / 1000)],
    });
    const dir = mkdtempSync(join(tmpdir(), "maaskit-evm-"));
    try {
      const stateFile = join(dir, "data", "evm-contracts.json");
      const clock = { now: () => new Date("2025-01-01T00:00:00.000Z") };
      const first = await startEvmLedger({ rpcUrl: anvil.rpcUrl, clock, stateFile });
      const workOrderId = keccak256(toUtf8Bytes("example/restart"));
      const opened = await first.ledger.openWorkOrder({
        workOrderId,
        customer: first.parties.customer,
        provider: first.parties.provider,
        arbiter: first.parties.arbiter,
        amount: dec("12.5"),
        currency: first.currency,
        acceptBy: new Date("2025-01-03T00:00:00.000Z"),
        completeBy: new Date("2025-01-05T00:00:00.000Z"),
        conditionHash: keccak256(toUtf8Bytes("condition")),
      });
      await first.ledger.close();
      await first.stop();
      expect(JSON.parse(readFileSync(stateFile, "utf8")).addresses).toEqual(first.addresses);

      const second = await startEvmLedger({ rpcUrl: anvil.rpcUrl, clock, stateFile });
      expect(second.addresses).toEqual(first.addresses);
      expect(second.currency).toEqual(first.currency);
      expect(await second.ledger.getWorkOrder(workOrderId)).toEqual(opened.workOrder);
      await second.ledger.close();
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await anvil.stop();
    }
  });
});
