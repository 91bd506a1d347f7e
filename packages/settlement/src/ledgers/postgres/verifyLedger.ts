import { ledgerError } from "../../ledgerErrors.js";
import { LedgerCore } from "../../rules/index.js";
import { encodeState } from "../embedded/stateCodec.js";
import { entryLeafHash } from "./checkpoint.js";
import { completedNodes, merkleRoot } from "./merkle.js";
import { CHAIN_GENESIS, decodeRecord, type EntryBody, sha256Hex } from "./pgChain.js";
import { inTransaction, type PgPoolLike } from "./pgQueryable.js";
import { builtSize } from "./pgTree.js";

/** What a full verification checked. */
export interface VerifyReport {
  readonly entries: number;
  readonly chains: number;
  readonly records: number;
  readonly events: number;
  readonly leaves: number;
  readonly checkpoints: number;
}

const corrupt = (message: string, details: Record<string, unknown>) =>
  ledgerError("settlement.ledger.corrupt", message, details);

/**
 * Checks the whole database in one repeatable-read snapshot: each chain's hashes and links,
 * a replay of every command through the rules (each entry must leave the state hash it
 * recorded, and the stored state, records and events must be what the replay gives), every
 * Merkle leaf against its entry, and every stored checkpoint's root against the leaves.
 */
export function verifyLedger(pool: PgPoolLike): Promise<VerifyReport> {
  return inTransaction(pool, async (c) => {
    await c.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const core = new LedgerCore();
    const heads = new Map<string, { seq: number; hash: string }>();
    const replayedEvents = new Map<number, string[]>();
    const entryHashes = new Map<number, string>();
    const states = new Map<number, string>();
    for (const r of (await c.query("SELECT entry_id::text AS id, state FROM maaskit_ledger_states"))
      .rows) {
      states.set(Number(r.id), String(r.state));
    }
    const { rows } = await c.query(
      `SELECT e.id::text AS id, e.chain, e.chain_seq::text AS seq, e.body, e.prev_hash, e.entry_hash
         FROM maaskit_ledger_entries e ORDER BY e.id`,
    );
    for (const r of rows) {
      const id = Number(r.id);
      const chain = String(r.chain);
      const at = { entry: id, chain };
      const head = heads.get(chain) ?? { seq: -1, hash: CHAIN_GENESIS };
      const text = String(r.body);
      if (sha256Hex(text) !== r.entry_hash)
        throw corrupt(`Entry ${id} does not match its hash`, at);
      let body: EntryBody;
      try {
        body = JSON.parse(text) as EntryBody;
      } catch {
        throw corrupt(`Entry ${id} is not JSON`, at);
      }
      if (
        body.chain !== chain ||
        body.seq !== head.seq + 1 ||
        Number(r.seq) !== body.seq ||
        body.prev !== head.hash ||
        r.prev_hash !== head.hash
      ) {
        throw corrupt(`Entry ${id} does not follow the head of ${chain}`, at);
      }
      let events: readonly unknown[];
      try {
        events = core.execute(body.cmd, new Date(body.at), true).events;
      } catch (err) {
        throw ledgerError("settlement.ledger.corrupt", `Entry ${id} does not replay`, at, err);
      }
      const [kind, key] = [chain.slice(0, chain.indexOf(":")), chain.slice(chain.indexOf(":") + 1)];
      const replayed = sha256Hex(encodeState(core.saveState(kind as "agreement", key)));
      if (replayed !== body.state || sha256Hex(states.get(id) ?? "") !== body.state) {
        throw corrupt(`The state entry ${id} left is not what the rules give`, at);
      }
      const list = replayedEvents.get(id) ?? [];
      for (const e of events) list.push(JSON.stringify(e));
      replayedEvents.set(id, list);
      heads.set(chain, { seq: body.seq, hash: String(r.entry_hash) });
      entryHashes.set(id, String(r.entry_hash));
    }
    const stored = await c.query(
      "SELECT v.id::text AS id, v.entry_id::text AS entry, v.body FROM maaskit_ledger_events v ORDER BY v.id",
    );
    const seen = new Map<number, number>();
    for (const e of stored.rows) {
      const entry = Number(e.entry);
      const n = seen.get(entry) ?? 0;
      if (replayedEvents.get(entry)?.[n] !== e.body) {
        throw corrupt(`Event ${e.id} is not what entry ${entry} emits`, {
          entry,
          event: Number(e.id),
        });
      }
      seen.set(entry, n + 1);
    }
    for (const [entry, list] of replayedEvents) {
      if ((seen.get(entry) ?? 0) !== list.length) {
        throw corrupt(`Events of entry ${entry} are missing`, { entry });
      }
    }
    const records = await c.query(
      "SELECT r.agreement, r.seq::text AS seq, r.digest, r.record FROM maaskit_ledger_records r ORDER BY r.agreement, r.seq",
    );
    for (const r of records.rows) {
      const agreementId = String(r.agreement);
      const seq = Number(r.seq);
      const mine = core.agreements.get(agreementId)?.records.get(seq);
      const stored = decodeRecord(agreementId, String(r.digest), String(r.record));
      if (mine === undefined || mine.digest !== stored.digest) {
        throw corrupt(`The stored record ${agreementId}#${seq} is not one the chain accepted`, {
          agreementId,
          seq,
        });
      }
    }
    const leaves = await c.query(
      "SELECT leaf_index::text AS i, entry_id::text AS entry, leaf_hash FROM maaskit_ledger_leaves ORDER BY leaf_index",
    );
    const hashes: string[] = [];
    for (const [i, l] of leaves.rows.entries()) {
      const entry = Number(l.entry);
      const h = entryHashes.get(entry);
      if (Number(l.i) !== i || h === undefined || entryLeafHash(h) !== l.leaf_hash) {
        throw corrupt(`Merkle leaf ${i} does not match entry ${entry}`, { entry, leaf: i });
      }
      hashes.push(String(l.leaf_hash));
    }
    // The stored complete subtrees (what roots and proofs are read from) against the leaves.
    const built = await builtSize(c);
    if (built > hashes.length) {
      throw corrupt(`The Merkle nodes cover ${built} leaves, there are ${hashes.length}`, {
        treeSize: built,
      });
    }
    const expected = completedNodes(0, hashes.slice(0, built), new Map());
    const nodeRows = await c.query(
      "SELECT level, idx::text AS idx, hash FROM maaskit_ledger_nodes ORDER BY level, idx",
    );
    for (const n of nodeRows.rows) {
      const key = `${Number(n.level)}:${Number(n.idx)}`;
      if (expected.get(key) !== n.hash) {
        throw corrupt(`Merkle node ${key} does not match the leaves under it`, { node: key });
      }
    }
    if (nodeRows.rows.length !== expected.size) {
      throw corrupt(`The Merkle tree has ${nodeRows.rows.length} of ${expected.size} nodes`, {
        treeSize: built,
      });
    }
    const checkpoints = await c.query(
      "SELECT tree_size::text AS size, root_hash FROM maaskit_ledger_checkpoints ORDER BY tree_size",
    );
    for (const cp of checkpoints.rows) {
      const size = Number(cp.size);
      if (size > hashes.length || merkleRoot(hashes, 0, size) !== cp.root_hash) {
        throw corrupt(`The tree no longer gives the root of checkpoint ${size}`, {
          treeSize: size,
        });
      }
    }
    return {
      entries: rows.length,
      chains: heads.size,
      records: records.rows.length,
      events: stored.rows.length,
      leaves: hashes.length,
      checkpoints: checkpoints.rows.length,
    };
  });
}
