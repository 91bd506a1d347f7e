import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, meterRecordDigest } from "@maaskit/metering";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedLedger } from "../src/ledgers/embedded/embeddedLedger.js";
import { crashAgreement, crashRecords } from "./fixtures/crashScenario.js";
import { bundleChild } from "./support/bundleChild.js";

// The fault harness raises this; 25 keeps the default run short on two cores.
const KILLS = Number(process.env.MAASKIT_CRASH_KILLS ?? "25");

let work: string;
let childScript: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "maaskit-crash-"));
  // Bundle the child from the TypeScript sources (the "source" condition) into one CJS file,
  // so it runs on plain Node 20 without a build of the packages or a TS loader.
  childScript = await bundleChild(
    new URL("./fixtures/embeddedCrashChild.ts", import.meta.url),
    work,
  );
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function waitFor(check: () => boolean, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (child.exitCode !== null) throw new Error(`child exited early with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("timed out waiting for the child");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("embeddedLedger crash safety", () => {
  it(`behavior: ${KILLS} SIGKILLs at random instants lose no acknowledged command and apply none twice`, async () => {
    const dir = join(work, "ledger");
    const ackFile = join(work, "acks.txt");
    const agreement = crashAgreement();
    const id = agreement.agreementId;
    const ackedSeqs = new Set<number>();
    const ackedDeposits = new Set<string>();
    let recordAt: ReturnType<typeof crashRecords> | undefined;
    let tornTails = 0;
    let rng = 0x2545f491;
    const random = () => {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) / 4294967296;
    };

    for (let kill = 0; kill < KILLS; kill++) {
      writeFileSync(ackFile, "");
      const stderr: Buffer[] = [];
      const child = spawn(process.execPath, [childScript, dir, ackFile, String(kill + 1)], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      child.stderr?.on("data", (d: Buffer) => stderr.push(d));
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      try {
        await waitFor(() => readFileSync(ackFile, "utf8").startsWith("ready"), child, 30_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}: ${Buffer.concat(stderr).toString()}`);
      }
      await new Promise((r) => setTimeout(r, 5 + Math.floor(random() * 150)));
      child.kill("SIGKILL");
      await exited;
      expect(child.signalCode, Buffer.concat(stderr).toString()).toBe("SIGKILL");

      for (const line of readFileSync(ackFile, "utf8").split("\n")) {
        const [kind, a, b] = line.split(" ");
        if (kind === "R") for (let s = Number(a); s <= Number(b); s++) ackedSeqs.add(s);
        if (kind === "D") ackedDeposits.add(a!);
      }

      const ledger = embeddedLedger({ dir });
      await ledger.ready;
      if (ledger.recoveredBytes() > 0) tornTails++;
      const { recordDomain } = await ledger.getAgreement(id);
      recordAt ??= crashRecords(agreement, recordDomain);
      const head = await ledger.getRecordsHead(id);
      const events = await ledger.getEvents();
      // Nothing acknowledged is lost…
      for (const s of ackedSeqs) expect(s).toBeLessThan(head.nextSeq);
      // …and every record is applied exactly once, in order, and is the record we built.
      const accepted = events.flatMap((e) => (e.type === "RecordAccepted" ? [e] : []));
      expect(accepted.map((e) => e.seq)).toEqual([...Array(head.nextSeq).keys()]);
      for (const e of accepted) expect(e.recordHash).toBe(meterRecordDigest(await recordAt(e.seq)));
      if (head.nextSeq > 0)
        expect(head.headHash).toBe(meterRecordDigest(await recordAt(head.nextSeq - 1)));
      // Deposits: each acknowledged one is there once; the balance is exactly their sum.
      const deposits = events.flatMap((e) => (e.type === "FundsDeposited" ? [e.reference] : []));
      expect(new Set(deposits).size).toBe(deposits.length);
      for (const ref of ackedDeposits) expect(deposits).toContain(ref);
      const balance = await ledger.getBalance(id);
      expect(balance.available.toFixed()).toBe(dec("1.000001").times(deposits.length).toFixed());
      await ledger.close();
    }
    expect(ackedSeqs.size).toBeGreaterThan(0);
    console.info(
      `embedded crash test: ${KILLS} kills, ${ackedSeqs.size} acknowledged records, ${ackedDeposits.size} deposits, ${tornTails} torn tails recovered`,
    );
  });
});
