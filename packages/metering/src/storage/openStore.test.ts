import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { entryHash, openStore, STORE_GENESIS, type Store } from "./openStore.js";

let dir: string;
let file: string;
const open: Store[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-store-"));
  file = path.join(dir, "x.db");
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(extra: Partial<Parameters<typeof openStore>[0]> = {}): Store {
  const s = openStore({ file, kind: "test/1", ...extra });
  open.push(s);
  return s;
}

function fill(s: Store, n: number): void {
  s.transaction(() => {
    for (let i = 0; i < n; i++) s.append("note", JSON.stringify({ i }));
  });
}

describe("openStore", () => {
  test("default: entries are hash-chained from the genesis hash and survive reopening", () => {
    const s = store();
    expect(s.head()).toEqual({ index: -1, hash: STORE_GENESIS });
    fill(s, 3);
    const entries = [...s.entries()];
    expect(entries.map((e) => e.index)).toEqual([0, 1, 2]);
    expect(entries[0]!.prev).toBe(STORE_GENESIS);
    for (const [i, e] of entries.entries()) {
      expect(e.hash).toBe(entryHash(e.prev, i, "note", e.body));
      if (i > 0) expect(e.prev).toBe(entries[i - 1]!.hash);
    }
    s.close();
    const again = store({ verify: "full" });
    expect(again.head()).toEqual({ index: 2, hash: entries[2]!.hash });
    expect(again.verify()).toEqual(again.head());
  });

  test("behavior: a transaction that throws leaves neither rows nor head behind", () => {
    const s = store();
    fill(s, 1);
    const head = s.head();
    expect(() =>
      s.transaction(() => {
        s.append("note", "{}");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(s.head()).toEqual(head);
    expect([...s.entries()]).toHaveLength(1);
  });

  test("error: another kind of store is metering.storage.invalidConfig", () => {
    store().close();
    open.length = 0;
    expect(() => store({ kind: "other/1" })).toThrowError(
      expect.objectContaining({ code: "metering.storage.invalidConfig" }),
    );
  });

  test("error: a second open is metering.storage.locked", () => {
    store();
    expect(() => openStore({ file, kind: "test/1" })).toThrowError(
      expect.objectContaining({ code: "metering.storage.locked" }),
    );
  });

  test("error: a changed entry beyond the checked tail is found by verify() and by a full open, naming it", () => {
    const s = store();
    fill(s, 200);
    s.close();
    open.length = 0;
    const raw = store();
    raw.db.prepare("UPDATE chain SET body = '{\"i\":-1}' WHERE idx = 10").run();
    raw.close();
    open.length = 0;
    const tail = store(); // only the last 64 entries are re-hashed at open
    expect(() => tail.verify()).toThrowError(
      expect.objectContaining({
        code: "metering.storage.corrupt",
        details: expect.objectContaining({ index: 10 }),
      }),
    );
    tail.close();
    open.length = 0;
    expect(() => store({ verify: "full" })).toThrowError(
      expect.objectContaining({
        code: "metering.storage.corrupt",
        details: expect.objectContaining({ index: 10 }),
      }),
    );
  });

  test("behavior: prune drops entries up to an index; the chain continues from their last hash", () => {
    const s = store();
    fill(s, 10);
    const h4 = [...s.entries()][4]!.hash;
    s.transaction(() => s.prune(4));
    expect(s.base()).toEqual({ index: 4, hash: h4 });
    expect([...s.entries()].map((e) => e.index)).toEqual([5, 6, 7, 8, 9]);
    fill(s, 1);
    s.close();
    const again = store({ verify: "full" });
    expect(again.head().index).toBe(10);
    expect(again.verify().index).toBe(10);
  });

  test("error: a file that is not a SQLite database is metering.storage.corrupt", () => {
    fs.writeFileSync(file, "this is not a database, it only pretends to be one".repeat(100));
    expect(() => store()).toThrowError(
      expect.objectContaining({ code: "metering.storage.corrupt" }),
    );
  });
});
