import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, verifyMeterRecords } from "@maaskit/metering";
import {
  entitlementGrantToJson,
  openFeatureGate,
  signEntitlementGrant,
} from "@maaskit/metering/entitlements";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleChild } from "../lib/bundleChild.js";
import { prng, sleep } from "../lib/gatewayProcess.js";

// A prepaid feature under SIGKILL. A child uses "boost" as fast as it can: each use is
// counted (budget decremented and its signed record committed in one transaction) and only
// then acts (appends its record's seq to acts.log). It is killed at random instants and
// restarted, until its budget is spent. Afterwards: every act has its counted, signed,
// chained record (never a free use), no act happened twice for one record, the uses never
// exceed the budget, and the record chain verifies. Uses counted but not acted (the kill
// came between the commit and the act) are the price of "count before acting" and are
// reported, never the other way round.
const KILLS = Number(process.env.FAULTS_FEATURE_KILLS ?? "25");
const BUDGET = 200;
const VENDOR = new Wallet(`0x${(11).toString(16).padStart(64, "0")}`);
const MACHINE_KEY = `0x${(12).toString(16).padStart(64, "0")}`;
const MACHINE = new Wallet(MACHINE_KEY);
const BINDING = {
  agreementId: "agr-faults-boost",
  chainId: 0,
  verifyingContract: "0x0000000000000000000000000000000000000000",
};

let script: string;
let dir: string;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/featureUseChild.ts"),
    "featureUseChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-feature-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("feature use under SIGKILL", () => {
  test(`behavior: ${KILLS} kills between budget decrement and use never yield a free use`, async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const grant = await signEntitlementGrant(
      {
        version: 1,
        ...BINDING,
        issuer: VENDOR.address,
        subject: MACHINE.address,
        machineId: "compressor-faults",
        featureId: "boost",
        terms: { kind: "perActivation", unit: "C62", budget: dec(BUDGET) },
        notBefore: new Date(Date.now() - 86_400_000),
        notAfter: new Date(Date.now() + 86_400_000),
        offlineGraceMs: 86_400_000,
        generation: 0,
        prevGrant: `0x${"0".repeat(64)}`,
      },
      { signer: VENDOR },
    );
    writeFileSync(join(dir, "grant.json"), JSON.stringify(entitlementGrantToJson(grant)));
    writeFileSync(join(dir, "machine.key"), MACHINE_KEY);
    writeFileSync(
      join(dir, "setup.json"),
      JSON.stringify({ issuer: VENDOR.address, machineId: "compressor-faults", binding: BINDING }),
    );

    let kills = 0;
    let exhausted = false;
    for (let run = 0; run < KILLS * 3 && !exhausted; run++) {
      const child = spawn(process.execPath, [script, dir], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      for (let i = 0; i < 2000 && !out.includes("ready") && child.exitCode === null; i++)
        await sleep(5);
      if (kills < KILLS) {
        // kill after a random number of uses, at a random instant inside one
        await Promise.race([sleep(5 + rnd() * 120), exited]);
        if (child.exitCode === null) {
          child.kill("SIGKILL");
          kills++;
        }
      }
      const code = await exited;
      if (out.includes("denied")) {
        expect(out, `seed ${seed}`).toContain("denied metering.entitlement.budgetExhausted");
        expect(code).toBe(0);
        exhausted = true;
      }
    }
    expect(exhausted, `seed ${seed}: the budget was spent`).toBe(true);

    const gate = await openFeatureGate({
      file: join(dir, "features.db"),
      issuer: VENDOR.address,
      machineId: "compressor-faults",
      signer: MACHINE,
      features: { boost: BINDING },
      clock: () => "synchronised",
    });
    try {
      const records = gate.records(BINDING.agreementId);
      const acts = readFileSync(join(dir, "acts.log"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map(Number);
      const counted = new Set(records.map((r) => r.seq));
      const free = acts.filter((seq) => !counted.has(seq));
      expect(free, `seed ${seed}: acts without a counted use`).toEqual([]);
      expect(new Set(acts).size, `seed ${seed}: one act per counted use`).toBe(acts.length);
      expect(records.length, `seed ${seed}`).toBe(BUDGET);
      expect(records.every((r) => r.quantity.value.eq(1) && r.channel === "feature/boost")).toBe(
        true,
      );
      const verdict = verifyMeterRecords(records, { signer: MACHINE.address, agreement: BINDING });
      expect(verdict.valid).toBe(true);
      expect(gate.checkFeature("boost")).toMatchObject({
        allowed: false,
        reason: "metering.entitlement.budgetExhausted",
      });
      console.log(
        `feature kills: seed ${seed}, ${kills} kills, ${records.length} uses counted, ${acts.length} acted, ${records.length - acts.length} counted but cut off before acting, 0 free`,
      );
    } finally {
      gate.close();
    }
  });
});
