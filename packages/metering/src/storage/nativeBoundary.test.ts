import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { expect, test } from "vitest";

const cjsCache = () => Object.keys(createRequire(import.meta.url).cache);
const sqliteLoaded = () =>
  cjsCache().some((k) => k.includes(`${path.sep}better-sqlite3${path.sep}`));

test("behavior: importing @maaskit/metering loads no native module; opening a journal does", async () => {
  const metering = await import("../index.js");
  expect(typeof metering.openJournal).toBe("function");
  expect(typeof metering.verifyMeterRecords).toBe("function");
  expect(sqliteLoaded()).toBe(false);
  // The positive control: the first store opened loads better-sqlite3.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-native-"));
  try {
    const journal = await metering.openJournal({ dir });
    await journal.close();
    expect(sqliteLoaded()).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
