// @maaskit/metering/aas — the Asset Administration Shell export. Needs the optional peer
// @aas-core-works/aas-core3.0-typescript (loaded on first use; absent, using it throws
// `maaskit.dependency.missing` naming the package).
export {
  type AasErrorCode,
  type AasExport,
  type AasNameplate,
  type ExportAasParameters,
  exportAas,
  verifyAasEnvironment,
} from "./aas/exportAas.js";
export type { AasPeriod, AasSegmentSummary } from "./aas/timeSeries.js";
