import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { canonicalJson } from "../src/journal/canonicalJson.js";
import { openJournal } from "../src/journal/openJournal.js";
import { readArchive } from "../src/journal/readArchive.js";
import { createMeterRecordVerifier } from "../src/records/meterRecordVerifier.js";
import {
  binding,
  type CrashRecord,
  crashCodec,
  GENESIS,
  makeRecord,
  wallet,
} from "./fixtures/crashRecords.js";
import { bundleChild } from "./support/bundleChild.js";

// The fault harness may raise or lower this (a loaded machine starts each child slowly).
const KILLS = Number(process.env.MAASKIT_JOURNAL_CRASH_KILLS ?? "55");

let childScript: string;
let dir: string;

beforeAll(async () => {
  childScript = await bundleChild(
    path.join(import.meta.dirname, "fixtures", "journalChild.ts"),
    "journalChild",
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-journal-crash-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runAndKill(
  args: string[],
  killAfterReadyMs: number | undefined,
  killAfterSpawnMs: number,
): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [childScript, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const closed = new Promise<void>((resolve) => child.stdout!.on("close", () => resolve()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  if (killAfterReadyMs === undefined) {
    await sleep(killAfterSpawnMs);
  } else {
    for (let i = 0; i < 500 && !out.includes("ready") && !gone; i++) await sleep(5);
    await sleep(killAfterReadyMs);
  }
  child.kill("SIGKILL");
  await exited;
  await closed;
  return out;
}

describe("journal crash safety", () => {
  test(`behavior: SIGKILL at ${KILLS} random instants loses nothing durable, forks nothing, and the chain verifies`, async () => {
    const seed = Number(process.env.JOURNAL_CRASH_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const archiveDir = path.join(dir, "archive");
    const expected: CrashRecord[] = [];
    const expectedJson: string[] = [];
    let maxAppended = -1;
    let maxAcked = -1;
    let verifiedThrough = -1;
    // Signatures, signer, agreement, seq, chain, contiguity and register deltas, checked
    // incrementally across the kills.
    const verifier = createMeterRecordVerifier({ signer: wallet.address, agreement: binding });
    const stats = { tornTails: 0, killsDuringStartup: 0, compactions: 0, reappends: 0 };
    const modes = ["always", "batch", "never"] as const;

    for (let kill = 0; kill < KILLS; kill++) {
      const fsync = modes[kill % modes.length]!;
      const duringStartup = rnd() < 0.15;
      if (duringStartup) stats.killsDuringStartup++;
      const out = await runAndKill(
        [path.join(dir, "journal"), archiveDir, fsync],
        duringStartup ? undefined : rnd() * 120,
        rnd() * 150,
      );
      for (const line of out.split("\n")) {
        const [tag, n] = line.split(" ");
        if (tag === "a") maxAppended = Math.max(maxAppended, Number(n));
        if (tag === "k") maxAcked = Math.max(maxAcked, Number(n));
        if (tag === "c") stats.compactions++;
        if (tag === "r") stats.reappends++;
      }

      const context = `seed ${seed}, kill ${kill} (${fsync})`;
      const journal = await openJournal({ dir: path.join(dir, "journal"), codec: crashCodec });
      try {
        if (journal.recovery.tornTail) stats.tornTails++;
        const state = journal.state();
        // Every record the child reported durable is there, and so is every acknowledgement.
        expect(state.nextSeq, context).toBeGreaterThan(maxAppended);
        expect(state.ackedThrough, context).toBeGreaterThanOrEqual(maxAcked);

        // The whole chain: archive (checked while read), then the live journal. A compaction
        // killed between writing its archive and replacing the journal leaves an overlap,
        // which must be identical.
        const all: CrashRecord[] = [];
        for await (const r of readArchive({ archiveDir, codec: crashCodec })) all.push(r);
        for await (const r of journal.read()) {
          if (r.seq < all.length) {
            expect(canonicalJson(crashCodec.encode(r)), context).toBe(
              canonicalJson(crashCodec.encode(all[r.seq]!)),
            );
          } else all.push(r);
        }
        expect(all.length, context).toBe(state.nextSeq);
        let prev: string = GENESIS;
        for (const [i, r] of all.entries()) {
          expect(r.seq, context).toBe(i); // gapless
          expect(r.prevHash, context).toBe(prev); // chained
          prev = crashCodec.hash(r);
        }
        expect(state.head, context).toBe(prev);

        // No seq was ever issued with other content: each record is the deterministic one.
        while (expected.length < all.length) {
          const prevRecord = expected.at(-1);
          const r = await makeRecord(
            expected.length,
            prevRecord === undefined ? GENESIS : crashCodec.hash(prevRecord),
          );
          expected.push(r);
          expectedJson.push(canonicalJson(crashCodec.encode(r)));
        }
        for (const [i, r] of all.entries()) {
          if (canonicalJson(crashCodec.encode(r)) !== expectedJson[i]) {
            expect.fail(`${context}: record ${i} differs from the one first written`);
          }
        }
        for (const r of all.slice(verifiedThrough + 1)) {
          const check = verifier.check(r);
          expect(check.reasons, `${context}: record ${r.seq}`).toEqual([]);
        }
        verifiedThrough = all.length - 1;
      } finally {
        await journal.close();
      }
    }

    // Nothing piles up: interrupted temp files are cleaned by the next open / compaction.
    const final = await openJournal({ dir: path.join(dir, "journal"), codec: crashCodec });
    await final.compact({ archiveDir });
    await final.close();
    const leftovers = fs.readdirSync(path.join(dir, "journal"));
    expect(leftovers).toEqual(["journal.db"]);
    expect(fs.readdirSync(archiveDir).every((n) => /^records-\d{12}-\d{12}\.jsonl$/.test(n))).toBe(
      true,
    );

    console.info(
      `journal crash test: seed ${seed}, ${KILLS} kills, ${maxAppended + 1} records, ` +
        `acked through ${maxAcked}, ${JSON.stringify(stats)}`,
    );
    // The run exercised what it claims to: records were written across the kills.
    expect(maxAppended).toBeGreaterThan(KILLS);
  }, 600_000); // 55 child processes; minutes on a loaded 2-core machine
});
