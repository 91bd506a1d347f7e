import { createHash } from "node:crypto";
import { ledgerError } from "../../ledgerErrors.js";
import { inTransaction, type PgPoolLike } from "./pgQueryable.js";

/**
 * The ledger tables, each append-only, guarded by the triggers its migration installs. Those
 * of migration 1 (whose statements must never change: they are checksummed):
 */
const TABLES_V1 = [
  "maaskit_ledger_entries",
  "maaskit_ledger_states",
  "maaskit_ledger_records",
  "maaskit_ledger_events",
  "maaskit_ledger_leaves",
  "maaskit_ledger_sequenced",
  "maaskit_ledger_checkpoints",
] as const;

/** The tables of migration 2: the Merkle tree's complete subtrees and the sizes built. */
const TABLES_V2 = ["maaskit_ledger_nodes", "maaskit_ledger_tree"] as const;

const guard = (table: string) => [
  `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table}
     FOR EACH ROW EXECUTE FUNCTION maaskit_ledger_append_only()`,
  `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
     FOR EACH STATEMENT EXECUTE FUNCTION maaskit_ledger_append_only()`,
];

/**
 * The schema, as numbered migrations. Applied in order by `migrate`, each once, recorded in
 * `maaskit_migrations` with the SHA-256 of its statements; never edit a shipped migration
 * (its checksum would no longer match) — add the next one.
 */
const MIGRATIONS: readonly { version: number; name: string; statements: readonly string[] }[] = [
  {
    version: 1,
    name: "append-only ledger: entries, states, records, events, Merkle leaves, checkpoints",
    statements: [
      `CREATE TABLE maaskit_ledger_entries (
         id bigserial PRIMARY KEY,
         xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
         chain text NOT NULL,
         chain_seq bigint NOT NULL,
         body text NOT NULL,
         prev_hash text NOT NULL,
         entry_hash text NOT NULL,
         UNIQUE (chain, chain_seq))`,
      `CREATE INDEX maaskit_ledger_entries_xid ON maaskit_ledger_entries (xid)`,
      `CREATE TABLE maaskit_ledger_states (
         entry_id bigint PRIMARY KEY REFERENCES maaskit_ledger_entries (id),
         chain text NOT NULL,
         chain_seq bigint NOT NULL,
         state text NOT NULL,
         UNIQUE (chain, chain_seq))`,
      `CREATE TABLE maaskit_ledger_records (
         agreement text NOT NULL,
         seq bigint NOT NULL,
         entry_id bigint NOT NULL REFERENCES maaskit_ledger_entries (id),
         period_start bigint NOT NULL,
         period_end bigint NOT NULL,
         digest text NOT NULL,
         record text NOT NULL,
         PRIMARY KEY (agreement, seq))`,
      `CREATE INDEX maaskit_ledger_records_period ON maaskit_ledger_records (agreement, period_start)`,
      `CREATE TABLE maaskit_ledger_events (
         id bigserial PRIMARY KEY,
         entry_id bigint NOT NULL REFERENCES maaskit_ledger_entries (id),
         body text NOT NULL)`,
      `CREATE TABLE maaskit_ledger_leaves (
         leaf_index bigint PRIMARY KEY,
         entry_id bigint NOT NULL UNIQUE REFERENCES maaskit_ledger_entries (id),
         leaf_hash text NOT NULL)`,
      `CREATE TABLE maaskit_ledger_sequenced (
         batch bigserial PRIMARY KEY,
         horizon xid8 NOT NULL,
         tree_size bigint NOT NULL)`,
      `CREATE TABLE maaskit_ledger_checkpoints (
         tree_size bigint PRIMARY KEY,
         root_hash text NOT NULL,
         timestamp text NOT NULL,
         signer text NOT NULL,
         signature text NOT NULL)`,
      `CREATE FUNCTION maaskit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'maaskit: % on the append-only ledger table % is refused', TG_OP, TG_TABLE_NAME
           USING ERRCODE = 'P0001', HINT = 'maaskit.ledger.appendOnly';
       END $$`,
      ...TABLES_V1.flatMap(guard),
    ],
  },
  {
    version: 2,
    name: "Merkle tree nodes: complete subtrees stored as they complete, for O(log n) roots and proofs",
    statements: [
      `CREATE TABLE maaskit_ledger_nodes (
         level integer NOT NULL CHECK (level > 0),
         idx bigint NOT NULL,
         hash text NOT NULL,
         PRIMARY KEY (level, idx))`,
      `CREATE TABLE maaskit_ledger_tree (tree_size bigint PRIMARY KEY)`,
      ...TABLES_V2.flatMap(guard),
    ],
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Any constant: the advisory lock every process migrating this database takes. */
const MIGRATION_LOCK = 0x6d61_6173; // "maas"

function checksum(statements: readonly string[]): string {
  return createHash("sha256").update(statements.join("\n;\n"), "utf8").digest("hex");
}

/**
 * Brings the schema to `SCHEMA_VERSION` in one transaction under a transaction-scoped
 * advisory lock, so two processes starting at once never both migrate: the second waits,
 * then finds the versions applied. Refuses (`settlement.ledger.corrupt`) a database whose
 * applied migrations differ from this code's or are newer than it knows.
 */
export async function migrate(pool: PgPoolLike): Promise<{ applied: number[] }> {
  return inTransaction(pool, async (c) => {
    await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await c.query(`CREATE TABLE IF NOT EXISTS maaskit_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await c.query(
      "SELECT version, checksum FROM maaskit_migrations ORDER BY version",
    );
    const done = new Map(rows.map((r) => [Number(r.version), String(r.checksum)]));
    for (const [version, sum] of done) {
      const known = MIGRATIONS.find((m) => m.version === version);
      if (known === undefined) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `The database has schema version ${version}, newer than this maaskit knows (${SCHEMA_VERSION}); upgrade maaskit`,
          { schemaVersion: version },
        );
      }
      if (checksum(known.statements) !== sum) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `Migration ${version} applied to the database differs from this maaskit's`,
          { schemaVersion: version },
        );
      }
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const sql of m.statements) await c.query(sql);
      await c.query(
        "INSERT INTO maaskit_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        [m.version, m.name, checksum(m.statements)],
      );
      applied.push(m.version);
    }
    return { applied };
  });
}
