import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedLedger, parseAgreement } from "@maaskit/settlement";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleChild } from "../lib/bundleChild.js";
import { prng, sleep } from "../lib/gatewayProcess.js";
import { powerLossAgreement } from "../lib/powerLoss.js";
import { loseUnsyncedWal } from "../lib/walCut.js";

// Group commit under power loss. A child submits signed records to the embedded ledger one
// per submitRecords call with 24 calls in flight, so the ledger commits them in groups (one
// transaction and one fsync per group). At random instants it is frozen (SIGSTOP) and the
// ledger directory copied; in the copy every WAL byte past the size it had at the last
// acknowledgement is unsynced and is cut or torn, as a power cut leaves it. Each copy must open
// with no human help and hold every record whose call had resolved — none lost, none twice
// (the chain would break) — and pass a full `verify()`.
const CUTS = Number(process.env.FAULTS_GROUP_CUTS ?? "20");

let script: string;
let dir: string;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/groupCommitChild.ts"),
    "groupCommitChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-group-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("group commit power loss", () => {
  test(`behavior: ${CUTS} power cuts while single-record calls are committed in groups — every acknowledged record is there after an unattended open`, async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const work = join(dir, "live");
    const child: ChildProcess = spawn(process.execPath, [script, work], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const agreementId = parseAgreement(powerLossAgreement()).agreementId;
    const stats = { cuts: 0, walBytesLost: 0, tornBytes: 0, acked: 0, beyondAck: 0 };
    try {
      for (let i = 0; i < 1000 && !out.includes("ready"); i++) await sleep(10);
      expect(out).toContain("ready");
      for (let c = 0; c < CUTS; c++) {
        await sleep(50 + rnd() * 300);
        child.kill("SIGSTOP");
        let seen = -1;
        while (seen !== out.length) {
          seen = out.length;
          await sleep(30);
        }
        let ackedSeq = -1;
        let ackedWal = Number(/^ready (\d+)$/m.exec(out)![1]);
        const acked = new Set<number>();
        for (const line of out.split("\n")) {
          const [tag, seq, wal] = line.split(" ");
          if (tag !== "R") continue;
          acked.add(Number(seq));
          ackedSeq = Math.max(ackedSeq, Number(seq));
          ackedWal = Math.max(ackedWal, Number(wal));
        }
        const copy = join(dir, `cut-${c}`);
        cpSync(work, copy, { recursive: true });
        child.kill("SIGCONT");
        const context = `seed ${seed}, cut ${c}`;
        // Calls resolve in seq order within a group and groups in order: every seq below the
        // highest acknowledged one was acknowledged too.
        expect(acked.size, context).toBe(ackedSeq + 1);
        const l = loseUnsyncedWal(join(copy, "ledger", "ledger.db"), ackedWal, rnd);
        stats.walBytesLost += l.cut;
        stats.tornBytes += l.torn;

        const ledger = embeddedLedger({ dir: join(copy, "ledger") });
        try {
          await ledger.ready;
          const head = await ledger.getRecordsHead(agreementId);
          expect(head.nextSeq, context).toBeGreaterThan(ackedSeq); // nothing acknowledged lost
          const seqs = (await ledger.getEvents()).flatMap((e) =>
            e.type === "RecordAccepted" ? [e.seq] : [],
          );
          expect(seqs, context).toEqual(Array.from({ length: head.nextSeq }, (_, i) => i)); // once each
          await ledger.verify();
          stats.acked = Math.max(stats.acked, ackedSeq + 1);
          stats.beyondAck += head.nextSeq - (ackedSeq + 1);
        } finally {
          await ledger.close();
        }
        rmSync(copy, { recursive: true, force: true });
        stats.cuts++;
      }
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    expect(stats.acked).toBeGreaterThan(CUTS);
    expect(readdirSync(dir).filter((n) => n.startsWith("cut-"))).toEqual([]);
    console.info(`group commit power loss: seed ${seed}, ${JSON.stringify(stats)}`);
  });
});
