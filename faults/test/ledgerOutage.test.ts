import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anvilMnemonic } from "@maaskit/settlement/anvil";
import { meterAgreementsAbi } from "@maaskit/settlement/evm";
import { Contract, getCreateAddress, HDNodeWallet, JsonRpcProvider, Mnemonic } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type AnvilNode, startAnvilNode } from "../lib/anvilNode.js";
import { auditPlant, digests, type VolumeSeen } from "../lib/auditPlant.js";
import { bundleChild } from "../lib/bundleChild.js";
import {
  type ChildEvent,
  type GatewayProcess,
  sleep,
  spawnGateway,
} from "../lib/gatewayProcess.js";
import { type Plant, startPlant } from "../lib/plant.js";

// The gateway settles on an EVM chain (a real anvil node, contracts deployed by the gateway).
// Mid-run the node goes away — stopped (it dumps its state) and started again on the same
// port from that state, then frozen with SIGSTOP and thawed — while the gateway keeps
// metering. Records queue in the journal and are delivered exactly once when it returns.
const ACCELERATE = 3600;
const T0 = new Date("2025-03-03T00:00:00.000Z");

let script: string;
let dir: string;
let anvil: AnvilNode;
let plant: Plant;

const account = (i: number) =>
  HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(anvilMnemonic), `m/44'/60'/0'/0/${i}`);

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/gatewayChild.ts"),
    "gatewayChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-outage-"));
  anvil = await startAnvilNode(join(dir, "anvil-state.json"));
  // The gateway deploys the settlement token first, from account 0 at nonce 0: the agreement
  // can name it (and anvil's accounts 1 and 2 as customer and provider) before it exists.
  plant = await startPlant({
    dir,
    simStart: new Date(T0.getTime() - 4 * 3_600_000),
    agreementStart: T0,
    accelerate: ACCELERATE,
    evmParties: { customer: account(1).address, provider: account(2).address },
    currency: {
      symbol: "EURT",
      decimals: 2,
      address: getCreateAddress({ from: account(0).address, nonce: 0 }),
    },
  });
});
afterAll(async () => {
  await plant?.server.stop();
  await anvil?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const acked = (g: GatewayProcess) =>
  Math.max(-1, ...g.events.filter((e) => e.event === "acked").map((e) => e.seq as number));
const recorded = (g: GatewayProcess) =>
  Math.max(-1, ...g.events.filter((e) => e.event === "record").map((e) => e.seq as number));

describe("ledger outage", () => {
  test("behavior: the EVM node stopped and restarted from its state, then frozen: records queue in the journal and reach the chain exactly once", async () => {
    const started = Date.now();
    const until = new Date(T0.getTime() + 16 * 3_600_000);
    // The gateway signs on a node it did not start only with the keys it is given: anvil's
    // accounts 0–3 as relayer (deployer), customer, provider and arbiter, as in the agreement.
    const keysDir = join(dir, "evm-keys");
    mkdirSync(keysDir, { recursive: true });
    for (const [i, name] of ["relayer", "customer", "provider", "arbiter"].entries()) {
      writeFileSync(join(keysDir, `${name}.key`), `${account(i).privateKey}\n`, { mode: 0o600 });
    }
    const g = spawnGateway(script, [
      "--config",
      plant.configFile,
      "--rpc",
      anvil.rpcUrl,
      "--evm-keys",
      keysDir,
      "--until",
      until.toISOString(),
    ]);
    const ready = await g.waitFor((e) => e.event === "evm.ready");
    const addresses = ready.addresses as { meterAgreements: string };
    await g.waitFor((e) => e.event === "acked" && (e.seq as number) >= 4);

    // Outage 1: the node is down (connection refused) for ~3 s = 3 simulated hours.
    await anvil.stop();
    const ackedAtStop = acked(g);
    const recordedAtStop = recorded(g);
    await sleep(3000);
    const queued = recorded(g) - acked(g);
    const ackedDuringOutage = acked(g);
    const retries = g.events.filter((e) => e.event === "delivery.retrying").length;
    await anvil.start();
    const target = recorded(g);
    await g.waitFor((e) => e.event === "acked" && (e.seq as number) >= target, 60_000);
    const outage1 = { ackedAtStop, recordedAtStop, queued, retries };

    // Outage 2: the node hangs (SIGSTOP) for ~2 s: calls neither answer nor fail.
    anvil.pause();
    const ackedAtPause = acked(g);
    await sleep(2000);
    const queuedWhilePaused = recorded(g) - acked(g);
    anvil.resume();
    const target2 = recorded(g);
    await g.waitFor((e) => e.event === "acked" && (e.seq as number) >= target2, 60_000);

    const status = await g.exited;
    expect(status, g.stderr().slice(-3000)).toEqual({ code: 0, signal: null });
    const volumes: VolumeSeen[] = g.events
      .filter((e: ChildEvent) => e.event === "volume")
      .map((e) => ({ t: e.t as number, v: e.v as string }));
    const audit = await auditPlant(plant, volumes, { ledger: "none" });

    // What the chain holds: RecordAccepted events of the registry, and its head.
    const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, {
      staticNetwork: true,
      cacheTimeout: -1,
      batchMaxCount: 1,
    });
    try {
      const registry = new Contract(addresses.meterAgreements, meterAgreementsAbi, provider);
      const logs = await registry.queryFilter(registry.filters.RecordAccepted!(), 0, "latest");
      const accepted = logs.map((l) => {
        const args = (l as unknown as { args: { seq: bigint; recordHash: string } }).args;
        return { seq: Number(args.seq), recordHash: args.recordHash };
      });
      console.info(
        `ledger outage: outage 1 ${JSON.stringify(outage1)}, acked during it ${ackedDuringOutage}; ` +
          `paused at ack ${ackedAtPause} with ${queuedWhilePaused} queued; ${audit.records.length} records, ` +
          `${accepted.length} accepted on chain, billed ${audit.billed.toFixed()} m³ = ground truth ` +
          `${audit.groundTruth.toFixed()} m³, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );

      // Nothing was acknowledged while the node was away, and records kept being journaled.
      expect(ackedDuringOutage).toBe(ackedAtStop);
      expect(queued).toBeGreaterThan(3);
      expect(retries).toBeGreaterThan(0);
      expect(queuedWhilePaused).toBeGreaterThan(0);
      // Exactly once: each seq on chain once, in order, with the journal's digest.
      const hashes = digests(audit.records);
      expect(accepted.map((a) => a.seq)).toEqual(audit.records.map((r) => r.seq));
      expect(accepted.map((a) => a.recordHash.toLowerCase())).toEqual(
        hashes.map((h) => h.toLowerCase()),
      );
      expect(audit.journal.ackedThrough).toBe(audit.records.length - 1);
      // And nothing lost on the metering side.
      expect(audit.verification.valid).toBe(true);
      expect(audit.cli.code, audit.cli.out.slice(-2000)).toBe(0);
      expect(audit.billed.toFixed()).toBe(audit.groundTruth.toFixed());
    } finally {
      provider.destroy();
    }
  });
});
