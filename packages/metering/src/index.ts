// @maaskit/metering — public entry point. Explicit named re-exports only.
export { isMaaskitError, MaaskitError } from "./errors.js";
export {
  canonicalJson,
  hashLogEntry,
  type LogEntry,
  type LogVerificationReason,
  type LogVerificationResult,
  logDomain,
  logEntryTypes,
  signLogEntry,
  verifyLogEntries,
} from "./log/signedLog.js";
export {
  type CounterDeltaErrorCode,
  type CounterDeltaInitial,
  type CounterDeltaOptions,
  type CounterDeltaState,
  counterDelta,
} from "./operators/counterDelta.js";
export {
  type IntegrateRateErrorCode,
  type IntegrateRateInitial,
  type IntegrateRateOptions,
  type IntegrateRateState,
  integrateRate,
} from "./operators/integrateRate.js";
export {
  type ValidateReadingsErrorCode,
  type ValidateReadingsOptions,
  validateReadings,
} from "./operators/validateReadings.js";
export {
  addQuantities,
  assertSameUnit,
  Dec,
  dec,
  decimalToString,
  type Quantity,
  type QuantityErrorCode,
  type QuantityJson,
  quantity,
  quantityFromJson,
  quantityToJson,
  toDecimal,
} from "./quantity.js";
export type {
  GapEvent,
  GapReason,
  MeterEvent,
  Quality,
  QuarantineEvent,
  QuarantineReason,
  Reading,
  ReadingValue,
  RegisterReplacedEvent,
  UsageEvent,
  UsageFlags,
} from "./reading.js";
export {
  type CompressorModel,
  type CompressorModelOptions,
  type CompressorSnapshot,
  type CompressorState,
  compressorModel,
  compressorStateCodes,
  type DemandProfile,
} from "./simulator/compressorModel.js";
export { type FromReadingsErrorCode, fromReadings } from "./sources/fromReadings.js";
export {
  type CompressorChannel,
  compressorChannels,
  type FromSimulatedCompressorOptions,
  fromSimulatedCompressor,
} from "./sources/fromSimulatedCompressor.js";
export { rateUnits, type UnitCode, type VolumeBasis } from "./units.js";
export type { MeterWindow, WindowUsage } from "./window.js";
