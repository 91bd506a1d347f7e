// One problem collector for the schema-first external types of every maaskit package
// (tariff, agreement, invoice, service agreement, …): zod's issues, read structurally so
// this package does not depend on zod, become `{ path, message }` problems.

/** One validation problem: where (a dotted/indexed path like `pricing.tiers[1].upTo`) and what. */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

/** The part of a zod issue the problems are made of. */
interface IssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly discriminator?: string;
}

/** `parent.key`, `parent[1]`, or the bare key at the root (the problems' path notation). */
export function problemPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function join(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

/**
 * The problems of a failed parse, each with its path: an unknown member is one problem per
 * member ("is not a known field", listed first), a bad discriminator is reported at the
 * discriminator's own path.
 */
export function problemsOf(error: { readonly issues: readonly IssueLike[] }): SchemaProblem[] {
  const unknown: SchemaProblem[] = [];
  const other: SchemaProblem[] = [];
  for (const issue of error.issues) {
    const at = problemPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys ?? []) {
        unknown.push({ path: join(at, key), message: "is not a known field" });
      }
    } else if (issue.code === "invalid_union" && typeof issue.discriminator === "string") {
      other.push({ path: join(at, issue.discriminator), message: issue.message });
    } else {
      other.push({ path: at, message: issue.message });
    }
  }
  return [...unknown, ...other];
}
