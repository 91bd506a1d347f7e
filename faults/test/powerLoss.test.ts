import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openJournal } from "@maaskit/metering";
import { embeddedLedger, parseAgreement } from "@maaskit/settlement";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleChild } from "../lib/bundleChild.js";
import { prng, sleep } from "../lib/gatewayProcess.js";
import { powerLossAgreement } from "../lib/powerLoss.js";
import { loseUnsyncedWal } from "../lib/walCut.js";

// A power loss keeps what was fsynced and loses (or tears) what was not. A child writes to
// the embedded ledger and to a journal as fast as it can; at random instants it is frozen
// (SIGSTOP) and the stores' files are copied — the disk as the OS holds it. In the copy,
// every WAL byte written after the last acknowledged commit is unsynced: the copy's WAL is
// cut at a random point beyond it and the rest of that region torn (random bytes or zeros),
// as a power cut leaves it. Each copy is then opened with no human help and must hold every
// call acknowledged before the cut — nothing lost, nothing applied twice — and verify.
const CUTS = Number(process.env.FAULTS_POWER_CUTS ?? "40");

let script: string;
let dir: string;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/powerLossChild.ts"),
    "powerLossChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-power-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Acks {
  deposits: Set<string>;
  depositWal: number;
  journalSeq: number;
  journalWal: number;
}

describe("power loss", () => {
  test(`behavior: ${CUTS} power cuts (unsynced WAL bytes lost or torn) — every copy opens unattended with everything acknowledged, once`, async () => {
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
    const stats = { cuts: 0, walBytesLost: 0, tornBytes: 0, deposits: 0, journal: 0 };
    try {
      for (let i = 0; i < 600 && !out.includes("ready"); i++) await sleep(10);
      expect(out).toContain("ready");
      for (let c = 0; c < CUTS; c++) {
        await sleep(20 + rnd() * 200);
        child.kill("SIGSTOP");
        // Let every line written before the stop arrive.
        let seen = -1;
        while (seen !== out.length) {
          seen = out.length;
          await sleep(30);
        }
        const acks: Acks = { deposits: new Set(), depositWal: 0, journalSeq: -1, journalWal: 0 };
        for (const line of out.split("\n")) {
          const [tag, what, wal] = line.split(" ");
          if (tag === "D") {
            acks.deposits.add(what!);
            acks.depositWal = Number(wal);
          }
          if (tag === "J") {
            acks.journalSeq = Math.max(acks.journalSeq, Number(what));
            acks.journalWal = Number(wal);
          }
        }
        const copy = join(dir, `cut-${c}`);
        cpSync(work, copy, { recursive: true });
        child.kill("SIGCONT");

        const context = `seed ${seed}, cut ${c}`;
        // The WAL only grows (it is reused from its start after a checkpoint, never shrunk),
        // so everything past its size at the last acknowledgement is unsynced.
        const l = loseUnsyncedWal(join(copy, "ledger", "ledger.db"), acks.depositWal, rnd);
        const j = loseUnsyncedWal(join(copy, "journal", "journal.db"), acks.journalWal, rnd);
        stats.walBytesLost += l.cut + j.cut;
        stats.tornBytes += l.torn + j.torn;

        const ledger = embeddedLedger({ dir: join(copy, "ledger") });
        try {
          await ledger.ready;
          const events = await ledger.getEvents();
          const refs = events.flatMap((e) => (e.type === "FundsDeposited" ? [e.reference!] : []));
          expect(new Set(refs).size, context).toBe(refs.length); // none applied twice
          for (const r of acks.deposits) expect(refs, context).toContain(r); // none lost
          const balance = await ledger.getBalance(agreementId);
          expect(balance.available.toFixed(), context).toBe(String(refs.length));
          await ledger.verify();
          stats.deposits = Math.max(stats.deposits, acks.deposits.size);
        } finally {
          await ledger.close();
        }
        const journal = await openJournal({ dir: join(copy, "journal") });
        try {
          expect(journal.state().nextSeq, context).toBeGreaterThan(acks.journalSeq);
          await journal.verify();
          stats.journal = Math.max(stats.journal, acks.journalSeq + 1);
        } finally {
          await journal.close();
        }
        rmSync(copy, { recursive: true, force: true });
        stats.cuts++;
      }
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    expect(readdirSync(dir).filter((n) => n.startsWith("cut-"))).toEqual([]);
    console.info(`power loss: seed ${seed}, ${JSON.stringify(stats)}`);
  });
});
