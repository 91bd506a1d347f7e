import { isMaaskitError } from "@maaskit/metering";
import { from, Observable, Subject, switchMap } from "rxjs";
import type { LedgerBackend, LedgerClock } from "../../ledger.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { preVerifyPool, verifyThreadsOption } from "../../preVerifyPool.js";
import { commandMethods } from "../../rules/commandMethods.js";
import type { Command, LedgerCore } from "../../rules/index.js";
import type {
  Checkpoint,
  CheckpointSigner,
  ConsistencyProof,
  InclusionProof,
} from "./checkpoint.js";
import { chainsOf, coreFor, loadChain, PrefetchedRecords, writeOutcome } from "./pgChain.js";
import { consistencyBetween, createCheckpoint, entryProof } from "./pgCheckpoints.js";
import {
  inTransaction,
  openPgPool,
  type PgPoolLike,
  queryPrepared,
  withClient,
} from "./pgQueryable.js";
import { migrate } from "./schema.js";
import { type VerifyReport, verifyLedger } from "./verifyLedger.js";

/** Options of `postgresLedger`: a pool, or a connection string to open one with `pg`. */
export type PostgresLedgerParameters = (
  | { readonly pool: PgPoolLike; readonly connectionString?: undefined }
  | {
      readonly connectionString: string;
      readonly pool?: undefined;
      readonly maxConnections?: number;
    }
) & {
  /** Time source; default the system clock. */
  readonly clock?: LedgerClock;
  /** The operator key that signs checkpoints (needed by `checkpoint()` only). */
  readonly operator?: CheckpointSigner;
  /** How often a command is retried after a serialization failure, deadlock or key race (default 20). */
  readonly retries?: number;
  /**
   * Worker threads that check submitted records' signatures before the chain's lock is
   * taken (started at the first submission, stopped by `close`). Default: the available
   * cores; 0 checks them under the lock, in this thread. Results are the same either way.
   */
  readonly verifyThreads?: number;
};

/** The postgres ledger: a `LedgerBackend` plus checkpoints, proofs and verification. */
export interface PostgresLedger extends LedgerBackend {
  readonly kind: "postgres";
  /** Resolves once the schema is migrated (rejects with `settlement.ledger.unavailable`/`.corrupt`). */
  readonly ready: Promise<void>;
  /** Sequences every committed entry into the Merkle tree and signs its root. */
  readonly checkpoint: () => Promise<Checkpoint>;
  /** The inclusion proof of an entry (by its id) in the tree of a checkpoint (default the latest). */
  readonly getProof: (entryId: number, treeSize?: number) => Promise<InclusionProof>;
  /** The consistency proof between two checkpoints' tree sizes. */
  readonly getConsistencyProof: (size1: number, size2: number) => Promise<ConsistencyProof>;
  /**
   * Re-hashes every chain, replays every command through the rules and compares the result
   * with the stored state, records and events, and recomputes every stored checkpoint's root:
   * `settlement.ledger.corrupt` naming the entry when anything differs.
   */
  readonly verify: () => Promise<VerifyReport>;
  /**
   * Starts the signature-check worker threads (`verifyThreads`) now and resolves once they
   * have loaded. Without it they start at the first submission, and submissions made while
   * they load are checked in the rules' thread (same results).
   */
  readonly startVerifyThreads: () => Promise<void>;
}

const RETRYABLE = new Set(["40001", "40P01", "23505"]);
const LOCK_NAMESPACE = 0x6d61; // the advisory lock key space of ledger chains

/**
 * A `LedgerBackend` on PostgreSQL (`pg` 8.x, an optional peer dependency) with the embedded
 * ledger's rules, so results, events and error codes are the same. Every accepted command
 * is one entry in the hash chain of the agreement (or work order) it changes, written with
 * the state it leaves, the records it accepts and the events it emits in ONE transaction
 * under a per-chain advisory lock; ledger tables are append-only (triggers refuse UPDATE,
 * DELETE and TRUNCATE). Many processes may share one database.
 *
 * @example
 * ```ts
 * const ledger = postgresLedger({ connectionString: process.env.DATABASE_URL! })
 * await ledger.openAgreement(agreement)
 * ```
 */
export function postgresLedger(params: PostgresLedgerParameters): PostgresLedger {
  const clock = params.clock ?? { now: () => new Date() };
  const retries = params.retries ?? 20;
  const verifiers = preVerifyPool(verifyThreadsOption(params.verifyThreads));
  const owned = params.pool === undefined;
  const pool =
    params.pool ??
    openPgPool(
      params.connectionString,
      "maxConnections" in params ? params.maxConnections : undefined,
    );
  const live = new Subject<{ id: number; event: LedgerEvent }>();
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  const ready = migrate(pool).then(
    () => undefined,
    (err) => {
      throw unavailable(err);
    },
  );
  ready.catch(() => {});

  async function guard<T>(fn: () => Promise<T>): Promise<T> {
    await ready;
    if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", {});
    const p = fn();
    inFlight.add(p);
    try {
      return await p;
    } catch (err) {
      throw unavailable(err);
    } finally {
      inFlight.delete(p);
    }
  }

  function run<T>(command: Command | (() => Command)): Promise<T> {
    return guard(async () => {
      const cmd = typeof command === "function" ? command() : command;
      // Signatures are checked before the lock, on the pool's threads; the rules only look
      // each record's verdict up by the digest they compute (never another record's).
      const preVerified =
        cmd.t === "submitRecords" ? await verifiers.verify(cmd.records) : undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          const { result, events } = await inTransaction(pool, async (c) => {
            const chains = chainsOf(cmd);
            for (const chain of chains) {
              await queryPrepared(
                c,
                "chain_lock",
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [LOCK_NAMESPACE, chain],
              );
            }
            const records = new PrefetchedRecords();
            const core = coreFor(records);
            const heads = new Map<string, { seq: number; hash: string }>();
            for (const chain of chains) heads.set(chain, await loadChain(c, core, chain));
            await records.prefetch(c, cmd);
            const at = clock.now();
            const out = core.execute(cmd, at, false, preVerified);
            if (!out.changed) return { result: out.result, events: [] };
            const written = await writeOutcome(c, core, heads, cmd, at, out, records);
            return { result: out.result, events: written.events };
          });
          for (const e of events) live.next(e);
          return result as T;
        } catch (err) {
          const code = String((err as { code?: unknown })?.code ?? "");
          if (RETRYABLE.has(code) && attempt < retries) continue;
          throw err;
        }
      }
    });
  }

  function read<T>(chain: string, fn: (c: LedgerCore) => T): Promise<T> {
    return guard(() =>
      withClient(pool, async (client) => {
        const core = coreFor(new PrefetchedRecords());
        await loadChain(client, core, chain);
        return fn(core);
      }),
    );
  }

  async function storedEvents(): Promise<{ id: number; event: LedgerEvent }[]> {
    return withClient(pool, async (client) => {
      const { rows } = await client.query(
        "SELECT v.id::text AS id, v.body FROM maaskit_ledger_events v ORDER BY v.id",
      );
      return rows.map((r) => ({ id: Number(r.id), event: JSON.parse(String(r.body)) }));
    });
  }

  const events$ = from(ready).pipe(
    switchMap(
      () =>
        new Observable<LedgerEvent>((subscriber) => {
          // Listen first, read the table, then pass on only live events newer than it.
          const buffered: { id: number; event: LedgerEvent }[] = [];
          let last: number | undefined;
          const sub = live.subscribe({
            next: (e) => {
              if (last === undefined) buffered.push(e);
              else if (e.id > last) subscriber.next(e.event);
            },
            complete: () => subscriber.complete(),
          });
          storedEvents().then(
            (rows) => {
              for (const r of rows) subscriber.next(r.event);
              last = rows.length === 0 ? 0 : rows[rows.length - 1]!.id;
              for (const e of buffered) if (e.id > last) subscriber.next(e.event);
            },
            (err) => subscriber.error(unavailable(err)),
          );
          return () => sub.unsubscribe();
        }),
    ),
  );

  const agreementChain = (id: string) => `agreement:${id}`;
  const workOrderChain = (id: string) => `workOrder:${id}`;

  return {
    kind: "postgres",
    ready,
    events$,
    checkpoint: () =>
      guard(() => {
        if (params.operator === undefined) {
          throw ledgerError(
            "settlement.checkpoint.invalid",
            "No operator key to sign checkpoints",
            {},
          );
        }
        return createCheckpoint(pool, params.operator, clock.now());
      }),
    getProof: (entryId, treeSize) => guard(() => entryProof(pool, entryId, treeSize)),
    getConsistencyProof: (size1, size2) => guard(() => consistencyBetween(pool, size1, size2)),
    verify: () => guard(() => verifyLedger(pool)),
    startVerifyThreads: () => verifiers.warm(),

    ...commandMethods(run),

    getAgreement: (id) => read(agreementChain(id), (c) => c.agreementState(id)),
    getBalance: (id) => read(agreementChain(id), (c) => c.balance(id)),
    getInvoices: (id) => read(agreementChain(id), (c) => c.invoices(id)),
    getRecordsHead: (id) => read(agreementChain(id), (c) => c.head(id)),
    getEntitlements: (id) => read(agreementChain(id), (c) => c.entitlements(id)),
    getEvents: () => guard(async () => (await storedEvents()).map((r) => r.event)),

    getWorkOrder: (id) => read(workOrderChain(id), (c) => c.workOrder(id)),

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inFlight]);
      await verifiers.close();
      live.complete();
      try {
        await ready;
      } catch {
        // nothing was opened beyond the pool
      }
      if (owned) await (pool as PgPoolLike & { end(): Promise<void> }).end();
    },
  };
}

/** Keeps the port's errors; wraps a database failure as `settlement.ledger.unavailable`. */
function unavailable(err: unknown): unknown {
  if (isMaaskitError(err)) return err;
  return ledgerError(
    "settlement.ledger.unavailable",
    `The ledger database failed: ${(err as Error)?.message ?? String(err)}`,
    { sqlState: (err as { code?: unknown })?.code ?? null },
    err,
  );
}
