import { type PostgresTarget, postgresTarget } from "@maaskit/test-support/postgres";
import { Wallet } from "ethers/wallet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  scenarioAgreement,
  scenarioClock,
  scenarioRecords,
} from "../src/conformance/ledgerScenario.js";
import { isLedgerError } from "../src/ledgerErrors.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import {
  type PgPoolLike,
  type PostgresLedger,
  postgresLedger,
  verifyConsistencyProof,
  verifyProof,
} from "../src/postgres.js";
import { asSuperuser, codeOf, sql } from "./support/pgSql.js";

// The Merkle tree's stored complete subtrees (migration 2): roots and proofs read O(log n)
// of them; a database from before them catches up on its next checkpoint; a rewritten node
// is caught by verify and by the checkpoint signed before.

describe("postgresLedger: the Merkle tree's stored nodes", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const operator = new Wallet(`0x${"5".repeat(64)}`);
  let target: PostgresTarget;
  let pool: PgPoolLike;
  let ledger: PostgresLedger;

  beforeAll(async () => {
    target = await postgresTarget("tree");
    pool = target.pool();
    ledger = postgresLedger({ pool, clock, operator });
    await ledger.ready;
  }, 180_000); // PGlite's start is slow on a loaded machine
  afterAll(async () => {
    await ledger?.close();
    await target?.drop();
  });

  async function submitSome(label: string, from: number, to: number) {
    clock.set("2025-01-01T00:00:00Z");
    const agreement = scenarioAgreement(`tree/${label}`);
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    clock.set("2025-01-03T00:00:00Z");
    for (let i = from; i < to; i++) {
      await ledger.submitRecords({ agreementId: agreement.agreementId, records: [records[i]!] });
    }
  }

  it("catches up a database from before the node store, with the same roots and proofs", async () => {
    await submitSome("upgrade", 0, 5);
    const cp1 = await ledger.checkpoint();
    const entries = await sql(pool, "SELECT entry_id::int AS id FROM maaskit_ledger_leaves");
    const proofs = await Promise.all(entries.map((e) => ledger.getProof(Number(e.id))));
    // As if upgraded from schema 1: leaves and checkpoints, no nodes yet.
    await asSuperuser(pool, [
      "DELETE FROM maaskit_ledger_nodes",
      "DELETE FROM maaskit_ledger_tree",
    ]);
    expect(await sql(pool, "SELECT * FROM maaskit_ledger_nodes")).toHaveLength(0);
    // proofs are read from the leaves until the next checkpoint builds the nodes
    for (const [i, e] of entries.entries()) {
      expect(await ledger.getProof(Number(e.id))).toEqual(proofs[i]);
    }
    await submitSome("upgrade-2", 0, 3);
    const cp2 = await ledger.checkpoint();
    const nodes = await sql(pool, "SELECT level FROM maaskit_ledger_nodes");
    expect(nodes.length).toBe(cp2.treeSize - cp2.treeSize.toString(2).replace(/0/g, "").length);
    for (const [i, e] of entries.entries()) {
      expect(await ledger.getProof(Number(e.id), cp1.treeSize)).toEqual(proofs[i]);
      expect(verifyProof(await ledger.getProof(Number(e.id)), cp2)).toBe(true);
    }
    const consistency = await ledger.getConsistencyProof(cp1.treeSize, cp2.treeSize);
    expect(verifyConsistencyProof(consistency, cp1, cp2)).toBe(true);
    expect((await ledger.verify()).leaves).toBe(cp2.treeSize);
  });

  it("refuses UPDATE, DELETE and TRUNCATE on the node tables", async () => {
    await submitSome("triggers", 0, 2);
    await ledger.checkpoint();
    for (const a of [
      "UPDATE maaskit_ledger_nodes SET hash = hash",
      "DELETE FROM maaskit_ledger_nodes",
      "TRUNCATE maaskit_ledger_nodes",
      "UPDATE maaskit_ledger_tree SET tree_size = tree_size + 1",
      "DELETE FROM maaskit_ledger_tree",
      "TRUNCATE maaskit_ledger_tree",
    ]) {
      expect(await codeOf(sql(pool, a)), a).toBe("P0001");
    }
  });

  it("adversary: a superuser who rewrites a stored node is caught by verify and by the signed root", async () => {
    await submitSome("tamper", 0, 4);
    const cp = await ledger.checkpoint();
    const [node] = await sql(
      pool,
      "SELECT level, idx::text AS idx, hash FROM maaskit_ledger_nodes WHERE level = 1 AND idx = 0",
    );
    expect(node).toBeDefined();
    const [far] = await sql(
      pool,
      "SELECT entry_id::int AS id FROM maaskit_ledger_leaves WHERE leaf_index = $1",
      [2],
    );
    expect(verifyProof(await ledger.getProof(Number(far!.id)), cp)).toBe(true);
    const forged = `${String(node!.hash).slice(0, 63)}${String(node!.hash).endsWith("0") ? "1" : "0"}`;
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_nodes SET hash = $1 WHERE level = 1 AND idx = 0"],
      [[forged]],
    );
    const err = await ledger.verify().catch((e: unknown) => e);
    expect(isLedgerError(err, "settlement.ledger.corrupt")).toBe(true);
    expect(String((err as Error).message)).toContain("node 1:0");
    // a proof built on the forged node no longer gives the root signed before
    expect(verifyProof(await ledger.getProof(Number(far!.id)), cp)).toBe(false);
  });
});
