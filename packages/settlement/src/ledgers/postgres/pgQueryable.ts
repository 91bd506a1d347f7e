import { requireOptional } from "@maaskit/metering/internal";

/** What a query returns: its rows (column name → value). */
export interface PgQueryResult {
  readonly rows: Record<string, unknown>[];
}

/** One connection: `pg.PoolClient` satisfies it. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
  /** An event emitter's `on` (pg's clients emit `error` when the connection drops). */
  on?(event: "error", listener: (err: Error) => void): unknown;
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
    on(event: "connect", listener: (client: PgClientLike) => void): unknown;
  };
}

/** A `pg.Pool` for a connection string (loads the optional peer `pg`). */
export function openPgPool(
  connectionString: string,
  max?: number,
): PgPoolLike & { end(): Promise<void> } {
  const pg = requireOptional<PgModule>(
    "pg",
    "@maaskit/settlement/postgres",
    // resolved from this package, where the optional peer is declared
    import.meta.url,
  );
  const pool = new pg.Pool({ connectionString, ...(max === undefined ? {} : { max }) });
  // An idle client's connection dying (server restart) must not crash the process; the
  // next query on a fresh client reports it.
  pool.on("error", () => {});
  // … nor may a late `error` of a client the pool has already let go of.
  pool.on("connect", (client) => {
    client.on?.("error", () => {});
    named.add(client);
  });
  return pool;
}

/** Clients of a `pg.Pool` this package opened: they take named (prepared) statements. */
const named = new WeakSet<PgClientLike>();

/**
 * Runs a statement the ledger issues on every command as a named prepared statement when
 * the client is `pg`'s (parsed and planned once per connection, then only bound and
 * executed); on any other client (a caller's pool, an adapter) as plain text. `name` must
 * be unique per `text`.
 */
export function queryPrepared(
  c: PgClientLike,
  name: string,
  text: string,
  values: unknown[],
): Promise<PgQueryResult> {
  if (!named.has(c)) return c.query(text, values);
  return (c as unknown as NamedQueryClient).query({ name: `maaskit_${name}`, text, values });
}

interface NamedQueryClient {
  query(q: { name: string; text: string; values: unknown[] }): Promise<PgQueryResult>;
}

/**
 * Runs `fn` on one pooled client. While it is checked out, a dropped connection (server
 * restart, failover, terminated backend) surfaces as the failing query's error — never as an
 * unhandled `error` event that would crash the process — and the client is then discarded.
 */
export async function withClient<T>(
  pool: PgPoolLike,
  fn: (client: PgClientLike) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // Kept for the client's whole life: pg may emit a late `error` after the pool let go of it.
  if (!guarded.has(client)) {
    guarded.add(client);
    client.on?.("error", (err) => dropped.set(client, err));
  }
  dropped.delete(client);
  try {
    return await fn(client);
  } catch (err) {
    if (isConnectionError(err)) dropped.set(client, err as Error);
    throw err;
  } finally {
    client.release(dropped.get(client));
  }
}

const guarded = new WeakSet<PgClientLike>();
const dropped = new WeakMap<PgClientLike, Error>();

function isConnectionError(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? "");
  // class 08 (connection exception), 57P0x (operator intervention: shutdown, terminated)
  return code === "" || code.startsWith("08") || code.startsWith("57P");
}

/** Runs `fn` in one transaction on one pooled client (ROLLBACK on any error). */
export async function inTransaction<T>(
  pool: PgPoolLike,
  fn: (client: PgClientLike) => Promise<T>,
): Promise<T> {
  return withClient(pool, (client) => transaction(client, fn));
}

async function transaction<T>(
  client: PgClientLike,
  fn: (client: PgClientLike) => Promise<T>,
): Promise<T> {
  try {
    await client.query("BEGIN");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (err) {
    // A failed ROLLBACK means the connection is gone; withClient discards the client.
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
