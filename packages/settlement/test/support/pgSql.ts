import type { PgPoolLike } from "../../src/postgres.js";

// Raw SQL for the postgres ledger's tests: reads, refusals, and a superuser's tampering.

export async function sql(pool: PgPoolLike, text: string, values?: unknown[]) {
  const c = await pool.connect();
  try {
    return (await c.query(text, values)).rows;
  } finally {
    c.release();
  }
}

/** The error code a promise rejects with (or its message; "resolved" if it does not). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { code?: unknown }).code ?? (err as Error).message);
  }
  return "resolved";
}

/** Runs `fn` as a superuser who switched the ledger's triggers off (and back on). */
export async function asSuperuser(
  pool: PgPoolLike,
  statements: string[],
  values: unknown[][] = [],
) {
  const c = await pool.connect();
  try {
    await c.query("SET session_replication_role = replica");
    for (const [i, s] of statements.entries()) await c.query(s, values[i]);
  } finally {
    await c.query("SET session_replication_role = origin");
    c.release();
  }
}
