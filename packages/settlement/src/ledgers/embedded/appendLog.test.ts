import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { afterEach, describe, expect, it } from "vitest";
import { openAppendLog } from "./appendLog.js";

const dirs: string[] = [];
async function logPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-log-"));
  dirs.push(dir);
  return join(dir, "ledger.log");
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const payloads = ["alpha", "beta", "gamma"].map((s) => Buffer.from(s));

async function written(): Promise<string> {
  const path = await logPath();
  const { log } = openAppendLog(path);
  log.append([payloads[0]!]);
  log.append(payloads.slice(1));
  log.close();
  return path;
}

describe("openAppendLog", () => {
  it("default: reads back every entry in order", async () => {
    const path = await written();
    const { log, entries, truncatedBytes } = openAppendLog(path);
    log.close();
    expect(entries.map((e) => e.toString())).toEqual(["alpha", "beta", "gamma"]);
    expect(truncatedBytes).toBe(0);
  });

  test.prop([fc.integer({ min: 1, max: 12 })])(
    "behavior: a torn last write (any cut inside the last frame) is cut off at open",
    async (cut) => {
      const path = await written();
      const size = statSync(path).size;
      truncateSync(path, size - Math.min(cut, 8 + 5 - 1));
      const { log, entries, truncatedBytes } = openAppendLog(path);
      log.append([Buffer.from("delta")]);
      log.close();
      expect(entries.map((e) => e.toString())).toEqual(["alpha", "beta"]);
      expect(truncatedBytes).toBeGreaterThan(0);
      const again = openAppendLog(path);
      again.log.close();
      expect(again.entries.map((e) => e.toString())).toEqual(["alpha", "beta", "delta"]);
    },
  );

  it("behavior: a mis-checksummed last frame and zero fill after it are a torn tail", async () => {
    const path = await written();
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 0xff;
    writeFileSync(path, bytes);
    appendFileSync(path, Buffer.alloc(64));
    const { log, entries } = openAppendLog(path);
    log.close();
    expect(entries.map((e) => e.toString())).toEqual(["alpha", "beta"]);
  });

  it("error: damage before the end is settlement.ledger.corrupt", async () => {
    const path = await written();
    const bytes = readFileSync(path);
    bytes[8] = bytes[8]! ^ 0xff; // first payload byte
    writeFileSync(path, bytes);
    expect(() => openAppendLog(path)).toThrowError(
      expect.objectContaining({ code: "settlement.ledger.corrupt" }),
    );
  });
});
