import type * as AasCore from "@aas-core-works/aas-core3.0-typescript";
import { requireOptional } from "../optionalDependency.js";

/** The aas-core3.0 SDK (types, jsonization, verification). @internal */
export type AasCoreModule = typeof AasCore;

export const AAS_CORE_PACKAGE = "@aas-core-works/aas-core3.0-typescript";

/**
 * Loads aas-core3.0 through `createRequire`: its ES module entry imports files without
 * extensions, which Node's native ESM loader refuses; the CommonJS build loads everywhere.
 * Absent, it is `maaskit.dependency.missing` naming the package. @internal
 */
export function loadAasCore(name: string = AAS_CORE_PACKAGE): AasCoreModule {
  return requireOptional<AasCoreModule>(name, "@maaskit/metering/aas");
}
