import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

// A PostgreSQL database for one test run, shared by the packages' tests (the postgres ledger's
// conformance runs in @maaskit/settlement, the ledger service's over HTTP and its kill test).

/** The part of a pg client the tests hand to the postgres ledger (`pg.PoolClient` fits). */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  release(err?: Error | boolean): void;
}

/** A connection pool as `postgresLedger` takes it (`pg.Pool` fits). */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}

/**
 * A `PgPoolLike` over one in-process PGlite database. PGlite is a single session, so the
 * adapter is a pool of one connection: `connect()` waits until the previous client is
 * released, which keeps transactions from interleaving on the one session.
 */
export function pglitePool(db: PGlite): PgPoolLike & { end(): Promise<void> } {
  let tail: Promise<void> = Promise.resolve();
  return {
    connect() {
      let release!: () => void;
      const mine = new Promise<void>((r) => {
        release = r;
      });
      const turn = tail.then(() => undefined);
      tail = tail.then(() => mine);
      return turn.then((): PgClientLike => {
        let released = false;
        return {
          query: async (text, values) => {
            if (released) throw new Error("client used after release");
            const res = await db.query<Record<string, unknown>>(text, values as unknown[]);
            return { rows: res.rows };
          },
          release: () => {
            if (released) return;
            released = true;
            release();
          },
        };
      });
    },
    end: () => db.close(),
  };
}

/** A database for one test run: a fresh database on the server at DATABASE_URL, or PGlite. */
export interface PostgresTarget {
  readonly kind: "postgres" | "pglite";
  /** A new pool on the database (several pools = several "processes"). */
  pool(): PgPoolLike & { end(): Promise<void> };
  /** The connection string (PostgreSQL only). */
  readonly connectionString?: string;
  /** Drops the database (PostgreSQL) or closes PGlite. */
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named database on the PostgreSQL server at `DATABASE_URL` (dropped by
 * `drop()`), or, without `DATABASE_URL`, an in-process PGlite — and says which it used.
 */
export async function postgresTarget(label: string): Promise<PostgresTarget> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") {
    const db = await PGlite.create();
    console.info(`[${label}] DATABASE_URL is not set: using in-process PGlite`);
    const pool = pglitePool(db);
    return { kind: "pglite", pool: () => pool, drop: () => db.close() };
  }
  const name = `maaskit_${label.replace(/\W/g, "_").toLowerCase()}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  const connectionString = target.toString();
  console.info(`[${label}] using PostgreSQL database ${name} at ${target.host}`);
  const pools: pg.Pool[] = [];
  return {
    kind: "postgres",
    connectionString,
    pool: () => {
      const p = new pg.Pool({ connectionString, max: 10 });
      p.on("error", () => {});
      p.on("connect", (client) => client.on("error", () => {}));
      pools.push(p);
      return p;
    },
    async drop() {
      await Promise.allSettled(pools.map((p) => p.end()));
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
