import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openJournal } from "../src/journal/openJournal.js";
import { createMeterRecordVerifier } from "../src/records/meterRecordVerifier.js";
import { binding, crashCodec, GENESIS, wallet } from "./fixtures/crashRecords.js";
import { bundleChild } from "./support/bundleChild.js";

// Issue 13: the journal's old stale-lock file let two processes in at once. Real processes
// race for one journal directory, many times; the fault harness may raise the count.
const RUNS = Number(process.env.MAASKIT_LOCK_RACES ?? "10");
const RACERS = 3;

let childScript: string;
let dir: string;

beforeAll(async () => {
  childScript = await bundleChild(
    path.join(import.meta.dirname, "fixtures", "journalLockRaceChild.ts"),
    "journalLockRaceChild",
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-journal-lockrace-"));
}, 120_000);
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function race(startAt: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(startAt)], {
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
      code === 0
        ? resolve(out.trim().split("\n"))
        : reject(new Error(`child exit ${code}: ${err}`)),
    );
  });
}

describe("journal lock", () => {
  test(
    `error: ${RUNS} races of ${RACERS} processes never let two hold one journal (the others are metering.journal.locked)`,
    async () => {
      const holds: { seq: number }[] = [];
      const outcomes: Record<string, number> = {};
      for (let run = 0; run < RUNS; run++) {
        const startAt = Date.now() + 600;
        const results = await Promise.all(Array.from({ length: RACERS }, () => race(startAt)));
        for (const lines of results) {
          const first = lines[0]!.split(" ");
          outcomes[first[0]!] = (outcomes[first[0]!] ?? 0) + 1;
          if (first[0] === "held") {
            const released = lines[1]!.split(" ");
            expect(released[0], lines.join(" | ")).toBe("released");
            holds.push({ seq: Number(first[1]) });
          } else expect(lines, lines.join(" | ")).toEqual(["metering.journal.locked"]);
        }
        expect(results.some((l) => l[0]!.startsWith("held"))).toBe(true);
      }
      // No two holders at once: each holder saw the journal its predecessor left, so the
      // seqs they appended are 0, 1, 2, … each once (two at once would both see one seq).
      holds.sort((a, b) => a.seq - b.seq);
      expect(holds.map((h) => h.seq)).toEqual(holds.map((_, i) => i));
      const journal = await openJournal({ dir, codec: crashCodec });
      const verifier = createMeterRecordVerifier({
        signer: wallet.address,
        agreement: binding,
        expectedStart: { seq: 0, prevHash: GENESIS },
      });
      let n = 0;
      for await (const r of journal.read(0)) {
        expect(verifier.check(r).valid).toBe(true);
        n++;
      }
      await journal.close();
      expect(n).toBe(holds.length);
      console.info(
        `journal lock race: ${RUNS} runs × ${RACERS} processes: ${JSON.stringify(outcomes)}`,
      );
    },
    60_000 + RUNS * 6_000,
  );
});
