// @maaskit/metering/internal — helpers the other maaskit packages share with this one (one
// implementation each). Not a public API: no semver promise; import it only from @maaskit/*.

export { fsyncDir, renameAside } from "./journal/fsUtil.js";
export {
  type WindowBoundaries,
  type WindowSize,
  windowBoundaries,
} from "./operators/windowBoundaries.js";
export { type DependencyMissingCode, requireOptional } from "./optionalDependency.js";
export { problemsOf, type SchemaProblem } from "./schemaProblems.js";
export { type Zone, type ZoneWall, zoneOf } from "./timeZone.js";
