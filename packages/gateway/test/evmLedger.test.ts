import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec } from "@maaskit/metering";
import { startAnvil } from "@maaskit/settlement/anvil";
import { type HDNodeWallet, keccak256, toUtf8Bytes } from "ethers";
import { describe, expect, test } from "vitest";
import { ledgerFromConfig } from "../src/cli/ledgerFromConfig.js";
import { parseGatewayConfig } from "../src/config/gatewayConfig.js";
import { startEvmLedger } from "../src/ledgers/evmLedger.js";

describe("startEvmLedger", () => {
  test("args: stateFile — a restart on the same node reuses the contracts and their state", async () => {
    const anvil = await startAnvil({
      args: ["--timestamp", String(Date.UTC(2024, 11, 1) / 1000)],
    });
    const dir = mkdtempSync(join(tmpdir(), "maaskit-evm-"));
    try {
      const stateFile = join(dir, "data", "evm-contracts.json");
      const clock = { now: () => new Date("2025-01-01T00:00:00.000Z") };
      // This node was started by the test, not by the gateway: the keys come from key files
      // (the node's funded accounts, written as an operator would).
      const keyFile = (i: number) => {
        const path = join(dir, `key-${i}`);
        writeFileSync(path, `${(anvil.wallets[i] as HDNodeWallet).privateKey}\n`, { mode: 0o600 });
        return { keyFile: path };
      };
      const keys = {
        relayer: keyFile(0),
        customer: keyFile(1),
        provider: keyFile(2),
        arbiter: keyFile(3),
      };
      const first = await startEvmLedger({ rpcUrl: anvil.rpcUrl, keys, clock, stateFile });
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

      const second = await startEvmLedger({ rpcUrl: anvil.rpcUrl, keys, clock, stateFile });
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

  test("error: with rpcUrl and no keys in the config it refuses to start (never anvil's public mnemonic)", async () => {
    const clock = { now: () => new Date("2025-01-01T00:00:00.000Z") };
    await expect(startEvmLedger({ rpcUrl: "http://127.0.0.1:1", clock })).rejects.toMatchObject({
      code: "gateway.config.invalid",
    });
    await expect(
      startEvmLedger({
        rpcUrl: "http://127.0.0.1:1",
        keys: {
          relayer: { env: "MAASKIT_TEST_NO_SUCH_KEY" },
          customer: { env: "MAASKIT_TEST_NO_SUCH_KEY" },
          provider: { env: "MAASKIT_TEST_NO_SUCH_KEY" },
          arbiter: { env: "MAASKIT_TEST_NO_SUCH_KEY" },
        },
        clock,
      }),
    ).rejects.toMatchObject({ code: "gateway.config.invalid" });
  });

  test('behavior: ledger { type: "evm" } from the config starts its own anvil, deploys the contracts and a token, names the parties it acts for; close() stops that anvil', async () => {
    const dir = mkdtempSync(join(tmpdir(), "maaskit-evm-config-"));
    try {
      const config = parseGatewayConfig(
        {
          machineId: "compressor-1",
          endpoint: "opc.tcp://127.0.0.1:4840/UA/Compressor",
          profile: { base: "compressor" },
          agreement: "agreement.json",
          signerKeyFile: "gateway.key",
          ledger: { type: "evm" },
        },
        dir,
      );
      const configured = await ledgerFromConfig(config, {
        now: () => new Date("2025-01-01T00:00:00.000Z"),
      });
      expect(configured.local).toBe(true);
      expect(configured.ledger.kind).toBe("evm");
      const evm = configured.evm!;
      expect(new Set([evm.parties.customer, evm.parties.provider, evm.parties.arbiter]).size).toBe(
        3,
      );
      expect(evm.currency).toMatchObject({ symbol: "EURT", decimals: 2 });
      expect(evm.currency.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
      await configured.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
