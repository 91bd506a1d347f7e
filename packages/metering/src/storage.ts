// @maaskit/metering/storage — the SQLite storage layer (Node only: loads better-sqlite3,
// a native module, when a store is opened). Explicit named re-exports only.
export {
  entryHash,
  type OpenStoreParameters,
  openStore,
  STORE_GENESIS,
  type Store,
  type StoreEntry,
  type StoreHead,
} from "./storage/openStore.js";
export {
  type StorageError,
  type StorageErrorCode,
  storageError,
} from "./storage/storageErrors.js";
