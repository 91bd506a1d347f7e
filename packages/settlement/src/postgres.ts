// @maaskit/settlement/postgres — the PostgreSQL ledger backend (loads the optional peer `pg`
// only when given a connection string) and its signed Merkle checkpoints. The checkpoint and
// proof checks below need no database.
export {
  type AnchorReader,
  type AnchorSigner,
  anchorCheckpoint,
  anchorData,
  type CheckpointAnchor,
  verifyAnchor,
} from "./ledgers/postgres/anchor.js";
export {
  type Checkpoint,
  type CheckpointSigner,
  type ConsistencyProof,
  checkpointMessage,
  entryLeafHash,
  type InclusionProof,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyProof,
} from "./ledgers/postgres/checkpoint.js";
export {
  consistencyPath,
  EMPTY_ROOT,
  inclusionPath,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from "./ledgers/postgres/merkle.js";
export type {
  PgClientLike,
  PgPoolLike,
  PgQueryResult,
} from "./ledgers/postgres/pgQueryable.js";
export {
  type PostgresLedger,
  type PostgresLedgerParameters,
  postgresLedger,
} from "./ledgers/postgres/postgresLedger.js";
export { SCHEMA_VERSION } from "./ledgers/postgres/schema.js";
export type { VerifyReport } from "./ledgers/postgres/verifyLedger.js";
