import { createRequire } from "node:module";
import { MaaskitError } from "./errors.js";

/** The error code when an optional peer dependency an entry point needs is not installed. */
export type DependencyMissingCode = "maaskit.dependency.missing";

/**
 * Loads an optional peer dependency (CommonJS) the first time an entry point needs it, so that
 * importing the entry point never fails and a missing package fails with a `MaaskitError`
 * (`maaskit.dependency.missing`) naming what to install, instead of `ERR_MODULE_NOT_FOUND`.
 *
 * `from` resolves the package from another package's location (for a dependency of the optional
 * peer itself: the very copy that peer uses).
 */
export function requireOptional<T>(name: string, entry: string, from?: string): T {
  const require = createRequire(from ?? import.meta.url);
  try {
    return require(name) as T;
  } catch (err) {
    throw missing(err, name, entry);
  }
}

/**
 * Checks that an optional peer dependency is installed without loading it (for a package then
 * loaded with `import()`: requiring it too would load its CommonJS build beside its ESM build).
 */
export function assertOptionalInstalled(name: string, entry: string): void {
  try {
    createRequire(import.meta.url).resolve(name);
  } catch (err) {
    throw missing(err, name, entry);
  }
}

function missing(err: unknown, name: string, entry: string): unknown {
  if (!isNotFound(err, name)) return err;
  return new MaaskitError<DependencyMissingCode>(
    "maaskit.dependency.missing",
    `${entry} needs the package "${name}", an optional peer dependency that is not installed: npm install ${name}`,
    { details: { package: name, entry }, cause: err },
  );
}

function isNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (e.code === "MODULE_NOT_FOUND" || e.code === "ERR_MODULE_NOT_FOUND") &&
    typeof e.message === "string" &&
    e.message.includes(`'${name}'`)
  );
}
