import type * as CactusCoreApi from "@hyperledger/cactus-core-api";
import { requireOptional } from "@maaskit/metering/internal";

/**
 * `@hyperledger/cactus-core-api`, an optional peer dependency, loaded on first use, so that
 * importing `@maaskit/settlement/cactus` without it installed succeeds and using what needs it
 * fails with `maaskit.dependency.missing` naming the package.
 */
export function loadCactusCoreApi(): typeof CactusCoreApi {
  return requireOptional<typeof CactusCoreApi>(
    "@hyperledger/cactus-core-api",
    "@maaskit/settlement/cactus",
    // resolved from this package, where the optional peer is declared
    import.meta.url,
  );
}
