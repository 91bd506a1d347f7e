import { createRequire } from "node:module";
import { MaaskitError } from "@maaskit/metering";

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
    if (!isNotFound(err, name)) throw err;
    throw new MaaskitError<DependencyMissingCode>(
      "maaskit.dependency.missing",
      `${entry} needs the package "${name}", an optional peer dependency that is not installed: npm install ${name}`,
      { details: { package: name, entry }, cause: err },
    );
  }
}

function isNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (e.code === "MODULE_NOT_FOUND" || e.code === "ERR_MODULE_NOT_FOUND") &&
    typeof e.message === "string" &&
    e.message.includes(`'${name}'`)
  );
}
