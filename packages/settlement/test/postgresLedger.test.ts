import { type PostgresTarget, postgresTarget } from "@maaskit/test-support/postgres";
import { Decimal } from "decimal.js";
import { Wallet } from "ethers/wallet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeLedgerBackend } from "../src/conformance/describeLedgerBackend.js";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioRecords,
} from "../src/conformance/ledgerScenario.js";
import { isLedgerError } from "../src/ledgerErrors.js";
import { migrate } from "../src/ledgers/postgres/schema.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import type { PgPoolLike } from "../src/postgres.js";
import {
  anchorCheckpoint,
  type PostgresLedger,
  postgresLedger,
  verifyAnchor,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyProof,
} from "../src/postgres.js";
import { startAnvil } from "./anvil.js";
import { asSuperuser, codeOf, sql } from "./support/pgSql.js";

// The real server at DATABASE_URL (each run in its own database, dropped after); without
// DATABASE_URL, in-process PGlite — the target prints which one it used.

describeLedgerBackend("postgres (integration)", async ({ clock }) => {
  const target = await postgresTarget("conformance");
  const ledger =
    target.connectionString === undefined
      ? postgresLedger({ pool: target.pool(), clock })
      : postgresLedger({ connectionString: target.connectionString, clock });
  return { ledger, cleanup: () => target.drop() };
});

describe("postgresLedger: append-only tables, tampering, concurrency, checkpoints", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const w = conformanceWallets();
  const operator = new Wallet(`0x${"7".repeat(64)}`);
  let target: PostgresTarget;
  let pool: PgPoolLike;
  let ledger: PostgresLedger;

  beforeAll(async () => {
    target = await postgresTarget("adversary");
    pool = target.pool();
    ledger = postgresLedger({ pool, clock, operator });
    await ledger.ready;
  });
  afterAll(async () => {
    await ledger?.close();
    await target?.drop();
  });

  async function openWithRecords(label: string) {
    clock.set("2025-01-01T00:00:00Z");
    const agreement = scenarioAgreement(`pg/${label}`);
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    clock.set("2025-01-03T00:00:00Z");
    return { agreement, id: agreement.agreementId, records };
  }

  it("refuses UPDATE, DELETE and TRUNCATE on every ledger table", async () => {
    const { id, records } = await openWithRecords("triggers");
    await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
    const attempts = [
      "UPDATE maaskit_ledger_entries SET body = body",
      "DELETE FROM maaskit_ledger_entries",
      "TRUNCATE maaskit_ledger_entries CASCADE",
      "UPDATE maaskit_ledger_states SET state = state",
      "DELETE FROM maaskit_ledger_records",
      "UPDATE maaskit_ledger_records SET digest = digest",
      "DELETE FROM maaskit_ledger_events",
      "TRUNCATE maaskit_ledger_events",
    ];
    for (const a of attempts) {
      const message = await codeOf(sql(pool, a));
      expect(message, a).toBe("P0001");
    }
    const rows = await sql(
      pool,
      "SELECT count(*)::int AS n FROM maaskit_ledger_records WHERE agreement = $1",
      [id],
    );
    expect(rows[0]!.n).toBe(2);
    await expect(ledger.verify()).resolves.toMatchObject({ records: expect.any(Number) });
  });

  it("catches a superuser who disables the triggers and rewrites an entry, a state or a record", async () => {
    const { id, records } = await openWithRecords("tamper");
    await ledger.deposit({
      agreementId: id,
      amount: new Decimal("20"),
      by: w.customer.address,
      reference: "t-1",
    });
    await ledger.submitRecords({ agreementId: id, records: records.slice(0, 4) });
    const [dep] = await sql(
      pool,
      'SELECT id::int AS id, body FROM maaskit_ledger_entries WHERE chain = $1 AND body LIKE \'%"t":"deposit"%\'',
      [`agreement:${id}`],
    );
    // 1. The deposit's amount rewritten in place: the entry no longer matches its hash.
    const forged = String(dep!.body).replace('"amount":"20"', '"amount":"2000"');
    expect(forged).not.toBe(dep!.body);
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_entries SET body = $1 WHERE id = $2"],
      [[forged, dep!.id]],
    );
    let err = await ledger.verify().catch((e: unknown) => e);
    expect(isLedgerError(err, "settlement.ledger.corrupt")).toBe(true);
    expect((err as { details: { entry: number } }).details.entry).toBe(dep!.id);
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_entries SET body = $1 WHERE id = $2"],
      [[dep!.body, dep!.id]],
    );
    await expect(ledger.verify()).resolves.toBeDefined();

    // 2. The saved balance edited: the next command on the agreement refuses to load it.
    const [st] = await sql(
      pool,
      "SELECT entry_id::int AS id, state FROM maaskit_ledger_states WHERE chain = $1 ORDER BY chain_seq DESC LIMIT 1",
      [`agreement:${id}`],
    );
    const richer = String(st!.state).replace(
      /"available":\{"\$dec":"[^"]+"\}/,
      '"available":{"$dec":"1000000"}',
    );
    expect(richer).not.toBe(st!.state);
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_states SET state = $1 WHERE entry_id = $2"],
      [[richer, st!.id]],
    );
    expect(await codeOf(ledger.getBalance(id))).toBe("settlement.ledger.corrupt");
    err = await ledger.verify().catch((e: unknown) => e);
    expect((err as { details: { entry: number } }).details.entry).toBe(st!.id);
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_states SET state = $1 WHERE entry_id = $2"],
      [[st!.state, st!.id]],
    );

    // 3. An accepted record rewritten: refused when read back, and by verify.
    const [rec] = await sql(
      pool,
      "SELECT record FROM maaskit_ledger_records WHERE agreement = $1 AND seq = 1",
      [id],
    );
    const bigger = String(rec!.record).replace(/"value":"[^"]+"/, '"value":"999999"');
    expect(bigger).not.toBe(rec!.record);
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_records SET record = $1 WHERE agreement = $2 AND seq = 1"],
      [[bigger, id]],
    );
    expect(await codeOf(ledger.verify())).toBe("settlement.ledger.corrupt");
    expect(
      await codeOf(ledger.submitRecords({ agreementId: id, records: records.slice(1, 2) })),
    ).toBe("settlement.ledger.corrupt");
    await asSuperuser(
      pool,
      ["UPDATE maaskit_ledger_records SET record = $1 WHERE agreement = $2 AND seq = 1"],
      [[rec!.record, id]],
    );
    await expect(ledger.verify()).resolves.toBeDefined();
  });

  it("accepts each record and deposit exactly once from 20 concurrent callers on two ledger instances", async () => {
    const second = postgresLedger({
      pool: target.connectionString === undefined ? pool : target.pool(),
      clock,
    });
    try {
      const { id, records } = await openWithRecords("race");
      const calls = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ledger : second));
      const results = await Promise.all(
        calls.map((l) => l.submitRecords({ agreementId: id, records: records.slice(0, 4) })),
      );
      const accepted = results.flatMap((r) => r.results.filter((x) => x.status === "accepted"));
      expect(accepted.map((a) => a.seq).sort()).toEqual([0, 1, 2, 3]);
      const deposits = await Promise.all(
        calls.map((l) =>
          l.deposit({
            agreementId: id,
            amount: new Decimal("7.5"),
            by: w.customer.address,
            reference: "race-1",
          }),
        ),
      );
      expect(deposits.filter((d) => d.status === "applied")).toHaveLength(1);
      expect((await second.getBalance(id)).available.toString()).toBe("7.5");
      // The port's rule for funds: a repeated reference is a duplicate and moves nothing,
      // whatever the amount (records: another body with a taken seq is
      // settlement.record.conflict, covered by the conformance suite).
      const again = await second.deposit({
        agreementId: id,
        amount: new Decimal("8"),
        by: w.customer.address,
        reference: "race-1",
      });
      expect(again.status).toBe("duplicate");
      expect((await ledger.getBalance(id)).available.toString()).toBe("7.5");
      const [n] = await sql(
        pool,
        "SELECT count(*)::int AS n FROM maaskit_ledger_records WHERE agreement = $1",
        [id],
      );
      expect(n!.n).toBe(4);
      await expect(ledger.verify()).resolves.toBeDefined();
    } finally {
      await second.close();
    }
  }, 120_000);

  it("loses and doubles nothing when the server kills its connections mid-load; retries land once", async () => {
    const { id, records } = await openWithRecords("kill");
    const stop = { now: false };
    let kills = 0;
    // On PostgreSQL: a separate connection terminates every other backend of this database
    // every 150 ms (as a restart or failover would). PGlite has no other backends to kill,
    // so there the same load runs undisturbed (said in the output).
    const killer = (async () => {
      if (target.kind !== "postgres") {
        console.info("[kill] PGlite: no server connections to terminate; load runs undisturbed");
        return;
      }
      const admin = target.pool();
      while (!stop.now) {
        const rows = await sql(
          admin,
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ).catch(() => [{ n: 0 }]);
        kills += Number(rows[0]?.n ?? 0);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    /** What a gateway does: retry a call until it resolves (unavailable → try again). */
    async function untilDone<T>(call: () => Promise<T>): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await call();
        } catch (err) {
          if (!isLedgerError(err, "settlement.ledger.unavailable") || attempt > 2000) throw err;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }
    try {
      for (const [i, r] of records.entries()) {
        await untilDone(() => ledger.submitRecords({ agreementId: id, records: [r] }));
        await untilDone(() =>
          ledger.deposit({
            agreementId: id,
            amount: new Decimal("1.25"),
            by: w.customer.address,
            reference: `kill-${i}`,
          }),
        );
      }
    } finally {
      stop.now = true;
      await killer;
    }
    console.info(`[kill] ${target.kind}: ${kills} server connections terminated during the load`);
    const head = await ledger.getRecordsHead(id);
    expect(head.nextSeq).toBe(records.length);
    const [n] = await sql(
      pool,
      "SELECT count(*)::int AS n FROM maaskit_ledger_records WHERE agreement = $1",
      [id],
    );
    expect(n!.n).toBe(records.length);
    expect((await ledger.getBalance(id)).available.toString()).toBe(
      new Decimal("1.25").times(records.length).toString(),
    );
    await expect(ledger.verify()).resolves.toBeDefined();
  }, 120_000);

  it("sequences an entry into the Merkle tree only once every older transaction has finished", async () => {
    const { id, records } = await openWithRecords("horizon");
    const before = await ledger.checkpoint();
    if (target.kind !== "postgres") {
      // One PGlite session: no transaction can stay open beside the ledger's.
      console.info(
        "[horizon] PGlite: single session, checking sequencing without a concurrent transaction",
      );
      await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
      expect((await ledger.checkpoint()).treeSize).toBe(before.treeSize + 1);
      return;
    }
    // Another process's transaction, begun (with a transaction id) before the ledger's writes.
    const other = target.pool();
    const c = await other.connect();
    try {
      await c.query("BEGIN");
      await c.query("SELECT pg_current_xact_id()");
      await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
      await ledger.submitRecords({ agreementId: id, records: records.slice(2, 3) });
      // The entries are committed, but an older transaction could still commit an entry
      // that sorts before them: they wait.
      const held = await ledger.checkpoint();
      expect(held.treeSize).toBe(before.treeSize);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
    const after = await ledger.checkpoint();
    expect(after.treeSize).toBe(before.treeSize + 2);
    const consistency = await ledger.getConsistencyProof(before.treeSize, after.treeSize);
    expect(verifyConsistencyProof(consistency, before, after)).toBe(true);
  });

  it("reports an unreachable database and a closed ledger with the port's codes", async () => {
    const nowhere = postgresLedger({
      connectionString: "postgres://postgres@127.0.0.1:1/none",
      clock,
    });
    expect(await codeOf(nowhere.ready)).toBe("settlement.ledger.unavailable");
    expect(await codeOf(nowhere.getEvents())).toBe("settlement.ledger.unavailable");
    await nowhere.close();
    const closing = postgresLedger({ pool, clock });
    await closing.ready;
    await closing.close();
    expect(await codeOf(closing.getEvents())).toBe("settlement.ledger.closed");
    expect(await codeOf(ledger.getProof(1, 10 ** 9))).toBe("settlement.checkpoint.notFound");
    expect(await codeOf(ledger.getConsistencyProof(5, 2))).toBe("settlement.checkpoint.invalid");
    expect(await codeOf(closing.checkpoint())).toBe("settlement.ledger.closed");
  });

  it("anchors a checkpoint on an EVM chain in one transaction; the anchor fits no other checkpoint", async () => {
    const { id, records } = await openWithRecords("anchor");
    await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
    const cp = await ledger.checkpoint();
    const anvil = await startAnvil();
    try {
      const operatorOnChain = anvil.wallets[0]!;
      const before = await anvil.provider.getBlockNumber();
      const anchor = await anchorCheckpoint(cp, operatorOnChain);
      expect(anchor.blockNumber).toBe(before + 1);
      expect(await verifyAnchor(anvil.provider, anchor, cp)).toBe(true);
      // A re-signed or rewritten checkpoint does not match what the chain holds.
      expect(await verifyAnchor(anvil.provider, anchor, { ...cp, rootHash: "0".repeat(64) })).toBe(
        false,
      );
      expect(
        await verifyAnchor(anvil.provider, anchor, {
          ...cp,
          timestamp: "2030-01-01T00:00:00.000Z",
        }),
      ).toBe(false);
      // Someone else's transaction with the same data is not the operator's anchor.
      expect(
        await verifyAnchor(anvil.provider, { ...anchor, from: anvil.wallets[1]!.address }, cp),
      ).toBe(false);
    } finally {
      await anvil.stop();
    }
  });

  it("migrates once when two processes start at the same time", async () => {
    const fresh = await postgresTarget("migrate");
    try {
      const a = fresh.pool();
      const b = fresh.kind === "pglite" ? a : fresh.pool();
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect([...ra.applied, ...rb.applied]).toEqual([1, 2]);
      const rows = await sql(a, "SELECT version FROM maaskit_migrations");
      expect(rows).toHaveLength(2);
      await expect(migrate(b)).resolves.toEqual({ applied: [] });
      // A migration changed behind the library's back is refused.
      await sql(a, "UPDATE maaskit_migrations SET checksum = 'x'");
      expect(await codeOf(migrate(a))).toBe("settlement.ledger.corrupt");
    } finally {
      await fresh.drop();
    }
  });

  it("signs checkpoints whose proofs verify with no database, and catches a rewritten history", async () => {
    const { id, records } = await openWithRecords("checkpoint");
    await ledger.submitRecords({ agreementId: id, records: records.slice(0, 3) });
    const cp1 = await ledger.checkpoint();
    expect(verifyCheckpoint(cp1, operator.address)).toBe(true);
    expect(verifyCheckpoint(cp1, w.customer.address)).toBe(false);
    expect(verifyCheckpoint({ ...cp1, treeSize: cp1.treeSize + 1 }, operator.address)).toBe(false);
    const entries = await sql(pool, "SELECT id::int AS id FROM maaskit_ledger_entries ORDER BY id");
    expect(cp1.treeSize).toBe(entries.length);
    for (const e of [entries[0]!, entries[entries.length - 1]!]) {
      const proof = await ledger.getProof(Number(e.id));
      expect(verifyProof(proof, cp1)).toBe(true);
      expect(verifyProof({ ...proof, entryBody: `${proof.entryBody} ` }, cp1)).toBe(false);
    }
    await ledger.submitRecords({ agreementId: id, records: records.slice(3, 5) });
    const cp2 = await ledger.checkpoint();
    expect(cp2.treeSize).toBe(cp1.treeSize + 1);
    const consistency = await ledger.getConsistencyProof(cp1.treeSize, cp2.treeSize);
    expect(verifyConsistencyProof(consistency, cp1, cp2)).toBe(true);
    expect(verifyConsistencyProof(consistency, cp1, { ...cp2, rootHash: cp1.rootHash })).toBe(
      false,
    );
    const report = await ledger.verify();
    expect(report.leaves).toBe(cp2.treeSize);
    expect(report.checkpoints).toBeGreaterThanOrEqual(2);

    // A superuser rewrites an early entry AND recomputes its hash and leaf consistently:
    // the chain link of the next entry and the signed roots both give it away.
    const [first] = await sql(
      pool,
      "SELECT id::int AS id, body FROM maaskit_ledger_entries ORDER BY id LIMIT 1",
    );
    const oldProof = await ledger.getProof(Number(first!.id), cp1.treeSize);
    const body = String(first!.body).replace('"at":"', '"at":"1');
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256").update(body).digest("hex");
    const { entryLeafHash } = await import("../src/postgres.js");
    await asSuperuser(
      pool,
      [
        "UPDATE maaskit_ledger_entries SET body = $1, entry_hash = $2 WHERE id = $3",
        "UPDATE maaskit_ledger_leaves SET leaf_hash = $1 WHERE entry_id = $2",
      ],
      [
        [body, hash, first!.id],
        [entryLeafHash(hash), first!.id],
      ],
    );
    const err = await ledger.verify().catch((e: unknown) => e);
    expect(isLedgerError(err, "settlement.ledger.corrupt")).toBe(true);
    // The proof of the rewritten entry fails against the checkpoint signed before.
    const newProof = await ledger.getProof(Number(first!.id), cp1.treeSize);
    expect(verifyProof(newProof, cp1)).toBe(false);
    expect(verifyProof(oldProof, cp1)).toBe(true);
  });
});
