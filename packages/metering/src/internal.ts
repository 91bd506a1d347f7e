// @maaskit/metering/internal — helpers the other maaskit packages share with this one (one
// implementation each). Not a public API: no semver promise, may change in any release;
// import it only from @maaskit/* packages (test/source/internalEntry.test.ts checks that
// nothing else in the repository does). See docs/architecture.md, "Entry points".

export { fsyncDir, renameAside } from "./journal/fsUtil.js";
export {
  type WindowBoundaries,
  type WindowSize,
  windowBoundaries,
} from "./operators/windowBoundaries.js";
export { type DependencyMissingCode, requireOptional } from "./optionalDependency.js";
// the pure signature check of one record, for the ledgers' pre-verification worker threads
// (a light entry: the worker loads only what the check needs)
export { preVerifyMeterRecord } from "./records/preVerifyMeterRecord.js";
export { problemsOf, type SchemaProblem } from "./schemaProblems.js";
export { type Zone, type ZoneWall, zoneOf } from "./timeZone.js";
