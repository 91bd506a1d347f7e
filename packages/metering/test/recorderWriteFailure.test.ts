import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { canonicalJson } from "../src/journal/canonicalJson.js";
import { openJournal } from "../src/journal/openJournal.js";
import { createMeterRecordVerifier } from "../src/records/meterRecordVerifier.js";
import { binding, crashCodec, GENESIS, makeRecord, wallet } from "./fixtures/crashRecords.js";
import { bundleChild } from "./support/bundleChild.js";
import { childLines } from "./support/childLines.js";

// The pipelined recorder under a real write failure: the child runs with a file-size limit
// (`prlimit`), so a journal write fails part-way with EFBIG while later records of the same
// burst are already signed. No record after the failed one may reach the journal, and the
// recorder must continue from the journal once space returns, with the very same records.

const WINDOWS = 40;
// SQLite writes whole 4 KiB pages to its WAL (a few per commit), so the limit leaves room for a
// handful of commits.
const LIMIT = 100_000;

let childScript: string;
let dir: string;

beforeAll(async () => {
  childScript = await bundleChild(
    path.join(import.meta.dirname, "fixtures", "recorderFillChild.ts"),
    "recorderFillChild",
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-recorder-full-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("recorder write failure", () => {
  test("error: a write failing mid-burst fails that record and every later one, appends none of them, and the recorder resumes from the journal with identical records", async () => {
    const journalDir = path.join(dir, "journal");
    const child = spawn(
      "prlimit",
      [`--fsize=${LIMIT}:unlimited`, process.execPath, childScript, journalDir, String(WINDOWS)],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => resolve(code)),
    );
    const { out, waitFor } = childLines(child);

    const state = await waitFor(/^state /);
    const outcomes = out().filter((l) => /^(ok|fail) /.test(l));
    expect(outcomes).toHaveLength(WINDOWS);
    const ok = outcomes.filter((l) => l.startsWith("ok "));
    const recorded = ok.length;
    // The durable records are exactly windows 0 … recorded−1 as seqs 0 … recorded−1; every
    // later window failed (the one whose write hit the limit with EFBIG).
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(WINDOWS);
    expect(ok).toEqual(Array.from({ length: recorded }, (_, i) => `ok ${i} ${i}`));
    const failed = outcomes.slice(recorded).map((l) => l.split(" "));
    expect(failed.map(([, i]) => Number(i))).toEqual(
      Array.from({ length: WINDOWS - recorded }, (_, i) => recorded + i),
    );
    expect(failed.every(([, , code]) => code === "metering.journal.writeFailed")).toBe(true);
    expect(failed.some(([, , , errno]) => /^SQLITE_(FULL|IOERR)/.test(errno ?? ""))).toBe(true);
    expect(state).toBe(`state ${recorded} ${recorded}`);

    execFileSync("prlimit", ["--pid", String(child.pid), "--fsize=unlimited:unlimited"]);
    child.stdin!.end("go\n");
    expect(await exited).toBe(0);
    expect(out().at(-1)).toBe("done");
    expect(out().filter((l) => l.startsWith("again "))).toEqual(
      Array.from({ length: WINDOWS - recorded }, (_, i) => `again ${recorded + i} ${recorded + i}`),
    );

    // Every record is the one a recorder without failures writes, byte for byte, and the
    // whole chain verifies.
    const journal = await openJournal({ dir: journalDir, codec: crashCodec });
    try {
      expect(journal.recovery).toEqual({});
      const verifier = createMeterRecordVerifier({ signer: wallet.address, agreement: binding });
      let prev: string = GENESIS;
      let seq = 0;
      for await (const r of journal.read()) {
        const expected = await makeRecord(seq, prev);
        expect(canonicalJson(crashCodec.encode(r))).toBe(
          canonicalJson(crashCodec.encode(expected)),
        );
        expect(verifier.check(r).reasons).toEqual([]);
        prev = crashCodec.hash(r);
        seq++;
      }
      expect(seq).toBe(WINDOWS);
    } finally {
      await journal.close();
    }
  });
});
