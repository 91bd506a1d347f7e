import { createRequire } from "node:module";
import * as path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { storageError } from "./storageErrors.js";

/** The better-sqlite3 constructor. @internal */
export type SqliteConstructor = typeof BetterSqlite3;

let loaded: SqliteConstructor | undefined;

/**
 * Loads better-sqlite3 (a native module) on first use only, so entry points that merely
 * import the storage-backed code (or a browser bundle of `@maaskit/metering`) never load it.
 * It resolves from this package first, then from the working directory (a bundled child
 * process whose file lives elsewhere).
 * @internal
 */
export function loadSqlite(): SqliteConstructor {
  if (loaded !== undefined) return loaded;
  const bases: string[] = [];
  // In an ESM build `import.meta.url` names this file; in a CJS bundle `__filename` does.
  if (typeof __filename === "string") bases.push(__filename);
  try {
    if (typeof import.meta.url === "string") bases.push(import.meta.url);
  } catch {
    // Not an ES module.
  }
  bases.push(path.join(process.cwd(), "package.json"));
  let lastError: unknown;
  for (const base of bases) {
    try {
      loaded = createRequire(base)("better-sqlite3") as SqliteConstructor;
      return loaded;
    } catch (err) {
      lastError = err;
    }
  }
  throw storageError(
    "metering.storage.unavailable",
    "better-sqlite3 could not be loaded: install it (it builds from source; list it in pnpm's onlyBuiltDependencies)",
    {},
    lastError,
  );
}
