import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { afterEach, describe, expect, it } from "vitest";
import { readLegacyLog } from "./appendLog.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const payloads = ['{"v":1,"a":1}', '{"v":1,"b":22}', '{"v":1,"c":333}'].map((s) => Buffer.from(s));

/** A log as the file-based ledger wrote it: `[len u32 LE][crc32 u32 LE][payload]` frames. */
function frame(p: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(p.length, 0);
  h.writeUInt32LE(crc32(p), 4);
  return Buffer.concat([h, p]);
}

async function written(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-log-"));
  dirs.push(dir);
  const path = join(dir, "ledger.log");
  writeFileSync(path, Buffer.concat(payloads.map(frame)));
  return path;
}

describe("readLegacyLog", () => {
  it("default: reads back every entry in order", async () => {
    const { entries, tornTail } = readLegacyLog(await written());
    expect(entries.map((e) => e.toString())).toEqual(payloads.map((p) => p.toString()));
    expect(tornTail).toBeUndefined();
  });

  test.prop([fc.integer({ min: 1, max: 8 + 15 - 1 })])(
    "behavior: a torn last write (any cut inside the last frame) is reported with its bytes, the file untouched",
    async (cut) => {
      const path = await written();
      truncateSync(path, statSync(path).size - cut);
      const before = readFileSync(path);
      const { entries, tornTail } = readLegacyLog(path);
      expect(entries.map((e) => e.toString())).toEqual(payloads.slice(0, 2).map(String));
      expect(tornTail?.bytes.length).toBe(8 + payloads[2]!.length - cut);
      expect(readFileSync(path).equals(before)).toBe(true);
    },
  );

  it("behavior: zero fill after the last frame is a torn tail", async () => {
    const path = await written();
    appendFileSync(path, Buffer.alloc(64));
    const { entries, tornTail } = readLegacyLog(path);
    expect(entries).toHaveLength(3);
    expect(tornTail?.bytes.length).toBe(64);
  });

  it("error: a flipped byte in the complete last frame is corrupt (it was acknowledged), not cut", async () => {
    const path = await written();
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 0xff;
    writeFileSync(path, bytes);
    expect(() => readLegacyLog(path)).toThrowError(
      expect.objectContaining({
        code: "settlement.ledger.corrupt",
        details: expect.objectContaining({ entry: 2 }),
      }),
    );
  });

  test.prop([fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 })])(
    "error: damage to any byte of a frame that intact frames follow is corrupt naming it",
    async (at, xor) => {
      const path = await written();
      const bytes = readFileSync(path);
      bytes[frame(payloads[0]!).length + at] = bytes[frame(payloads[0]!).length + at]! ^ xor;
      writeFileSync(path, bytes);
      expect(() => readLegacyLog(path)).toThrowError(
        expect.objectContaining({
          code: "settlement.ledger.corrupt",
          details: expect.objectContaining({ entry: 1 }),
        }),
      );
    },
  );
});
