import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedLedger } from "../src/ledgers/embedded/embeddedLedger.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import { crashAgreement } from "./fixtures/crashScenario.js";
import { bundleChild } from "./support/bundleChild.js";

// Real processes racing for one ledger directory; the fault harness may raise the count.
const RUNS = Number(process.env.MAASKIT_LOCK_RACES ?? "50");
const RACERS = 3;

let work: string;
let childScript: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "maaskit-lockrace-"));
  childScript = await bundleChild(new URL("./fixtures/lockRaceChild.ts", import.meta.url), work);
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function race(dir: string, startAt: number, reference: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(startAt), reference], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`child exit ${code}: ${err}`)),
    );
  });
}

describe("embeddedLedger lock", () => {
  it(
    `behavior: ${RUNS} races of ${RACERS} processes (with a stale lock file left by a dead one) never let two hold the ledger`,
    async () => {
      const dir = join(work, "ledger");
      const setup = embeddedLedger({ dir });
      // Offered and accepted: deposits are refused (`notActive`) on an agreement still pending.
      await openAgreementWithConsent(setup, crashAgreement());
      await setup.close();
      const outcomes: Record<string, number> = {};
      for (let run = 0; run < RUNS; run++) {
        // What the file-based lock left after a kill: a LOCK file naming a dead pid.
        writeFileSync(join(dir, "LOCK"), "999999");
        const startAt = Date.now() + 400;
        const results = await Promise.all(
          Array.from({ length: RACERS }, () => race(dir, startAt, `race-${run}`)),
        );
        for (const r of results) outcomes[r] = (outcomes[r] ?? 0) + 1;
        // The same deposit reference is applied by exactly one of them, never by two.
        expect(
          results.filter((r) => r === "applied"),
          JSON.stringify(results),
        ).toHaveLength(1);
        for (const r of results)
          expect(["applied", "duplicate", "settlement.ledger.locked"]).toContain(r);
      }
      const ledger = embeddedLedger({ dir });
      const balance = await ledger.getBalance(crashAgreement().agreementId);
      await ledger.close();
      expect(balance.available.toFixed()).toBe(String(RUNS));
      console.info(`lock race: ${RUNS} runs × ${RACERS} processes: ${JSON.stringify(outcomes)}`);
    },
    // Each run starts three Node processes (~1.3 s on two busy cores): 50 runs exceed the
    // default 60 s, so the budget scales with the run count.
    30_000 + RUNS * 4_000,
  );
});
