import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openJournal, ZERO_HASH } from "../src/journal/openJournal.js";
import { bundleChild } from "./support/bundleChild.js";
import { childLines } from "./support/childLines.js";

// A real write failure, not an injected one: the child runs with a file-size limit
// (RLIMIT_FSIZE via util-linux `prlimit`), so the kernel fails the journal write part-way
// (EFBIG after a short write), exactly like a disk that fills up mid-entry (ENOSPC).
// The parent then lifts the limit on the running child, like space coming back.

// SQLite writes whole 4 KiB pages to its WAL (a few per commit), so the limit leaves room for a
// handful of commits.
const LIMIT = 100_000;

let childScript: string;
let dir: string;

beforeAll(async () => {
  childScript = await bundleChild(
    path.join(import.meta.dirname, "fixtures", "journalFillChild.ts"),
    "journalFillChild",
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-journal-full-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("journal write failure", () => {
  test("error: a write failing part-way rejects with metering.journal.writeFailed, leaves only complete entries, and a later append succeeds once space returns", async () => {
    const journalDir = path.join(dir, "journal");
    const child = spawn(
      "prlimit",
      [`--fsize=${LIMIT}:unlimited`, process.execPath, childScript, journalDir],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => resolve(code)),
    );
    const { out, waitFor } = childLines(child, 2000);

    const fail = await waitFor(/^fail /);
    const [, failedSeq, errno] = fail.split(" ");
    // SQLite reports the kernel's EFBIG (a short write) as a full disk.
    expect(errno).toMatch(/^SQLITE_(FULL|IOERR)/);
    await waitFor(/^state /);
    expect(out()).toContain(`state ${failedSeq}`);

    // While the child still holds the journal, its database is locked to everyone else.
    await expect(openJournal({ dir: journalDir })).rejects.toMatchObject({
      code: "metering.journal.locked",
    });

    // Space returns: lift the limit on the running process, then let it go on.
    execFileSync("prlimit", ["--pid", String(child.pid), "--fsize=unlimited:unlimited"]);
    child.stdin!.end("go\n");
    expect(await exited).toBe(0);
    expect(out().at(-1)).toBe("done");
    expect(out()).toContain(`a ${failedSeq}`);

    const journal = await openJournal({ dir: journalDir });
    try {
      expect(journal.recovery).toEqual({});
      const expectedNext = Number(failedSeq) + 4;
      expect(journal.state().nextSeq).toBe(expectedNext);
      let prev = ZERO_HASH;
      let seq = 0;
      for await (const e of journal.read()) {
        expect([e.seq, e.prevHash]).toEqual([seq++, prev]);
        prev = e.hash;
      }
      expect(seq).toBe(expectedNext);
    } finally {
      await journal.close();
    }
  });
});
