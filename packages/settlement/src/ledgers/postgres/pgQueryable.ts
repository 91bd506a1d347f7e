import { requireOptional } from "../../optionalDependency.js";

/** What a query returns: its rows (column name → value). */
export interface PgQueryResult {
  readonly rows: Record<string, unknown>[];
}

/** One connection: `pg.PoolClient` satisfies it. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
}

/**
 * The part of a connection pool the postgres ledger uses; `pg.Pool` satisfies it, and so
 * can an adapter over another PostgreSQL driver (the tests use one over PGlite).
 */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}

interface PgModule {
  Pool: new (config: {
    connectionString: string;
    max?: number;
  }) => PgPoolLike & {
    end(): Promise<void>;
    on(event: "error", listener: (err: Error) => void): unknown;
  };
}

/** A `pg.Pool` for a connection string (loads the optional peer `pg`). */
export function openPgPool(
  connectionString: string,
  max?: number,
): PgPoolLike & { end(): Promise<void> } {
  const pg = requireOptional<PgModule>("pg", "@maaskit/settlement/postgres");
  const pool = new pg.Pool({ connectionString, ...(max === undefined ? {} : { max }) });
  // An idle client's connection dying (server restart) must not crash the process; the
  // next query on a fresh client reports it.
  pool.on("error", () => {});
  return pool;
}

/** Runs `fn` in one transaction on one pooled client (ROLLBACK on any error). */
export async function inTransaction<T>(
  pool: PgPoolLike,
  fn: (client: PgClientLike) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
