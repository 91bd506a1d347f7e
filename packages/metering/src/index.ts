// @maaskit/metering — public entry point. Explicit named re-exports only.

export { canonicalJson } from "./canonicalJson.js";
export { isMaaskitError, MaaskitError } from "./errors.js";
export {
  type AnchorCheck,
  type ChainSummary,
  EXIT,
  type ExportLine,
  type ExportReport,
  type InvoiceAnchor,
  type LineKindVerifier,
  type LineVerdict,
  type VerifyContext,
  type VerifyExportOptions,
} from "./exportReport.js";
export type { ExportSummary, SignerSummary } from "./exportStream.js";
export type { JsonValue } from "./journal/canonicalJson.js";
export {
  type CreateDeliveryLoopParameters,
  createDeliveryLoop,
  type DeliveryBackoff,
  type DeliveryBatchResult,
  type DeliveryEvent,
  type DeliveryLoop,
  type DeliverySink,
} from "./journal/createDeliveryLoop.js";
export {
  type CreateRecorderParameters,
  createRecorder,
  type Recorder,
} from "./journal/createRecorder.js";
export type { JournalError, JournalErrorCode } from "./journal/errors.js";
export { type ChainEntry, chainEntryCodec, type JournalCodec } from "./journal/journalCodec.js";
export { meterRecordCodec } from "./journal/meterRecordCodec.js";
export {
  type CompactResult,
  type Journal,
  type JournalChange,
  type JournalFsyncMode,
  type JournalRecovery,
  type JournalState,
  type OpenJournalParameters,
  openJournal,
} from "./journal/openJournal.js";
export { type ReadArchiveParameters, readArchive } from "./journal/readArchive.js";
export {
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
  type CounterCapacity,
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
  type MachineStateErrorCode,
  type MachineStateOptions,
  machineState,
  type StateMapper,
} from "./operators/machineState.js";
export {
  type OeeCalendar,
  type OeeErrorCode,
  type OeeOptions,
  type OeeOutput,
  oee,
} from "./operators/oee.js";
export { rollUpOee } from "./operators/rollUpOee.js";
export {
  type RollUpWindowsOptions,
  rollUpWindows,
  type WindowRollUp,
} from "./operators/rollUpWindows.js";
export {
  compressorStates,
  machineryItemStates,
  packmlStates,
  type StateMapping,
} from "./operators/stateMappings.js";
export {
  type TumblingWindowErrorCode,
  type TumblingWindowOptions,
  tumblingWindow,
  type WindowedEvent,
  type WindowSize,
} from "./operators/tumblingWindow.js";
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
export { verifyRecordLines } from "./recordRun.js";
export { buildPeriodStatement } from "./records/buildPeriodStatement.js";
export {
  type BuildMeterRecordErrorType,
  type BuildMeterRecordParameters,
  buildMeterRecord,
} from "./records/createMeterRecord.js";
export {
  domainSeparatorOf,
  type EncodeMeterRecordReturnType,
  encodeMeterRecord,
  hashMeterExtras,
  meterRecordDigest,
  meterRecordTypedData,
} from "./records/encodeMeterRecord.js";
export {
  encodePeriodStatement,
  periodStatementTypedData,
} from "./records/encodePeriodStatement.js";
export {
  type LoadSignerErrorType,
  type LoadSignerParameters,
  loadSigner,
} from "./records/loadSigner.js";
export {
  type BindingJson,
  CLOCK_STATUSES,
  type ClockStatus,
  type ExtraQuantity,
  type ExtraQuantityJson,
  extrasFromJson,
  extrasToJson,
  GENESIS_HASH,
  METER_RECORD_DECIMALS,
  METER_RECORD_VERSION,
  type MeterExtras,
  type MeterExtrasJson,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterRecordJson,
  meterRecordFromJson,
  meterRecordToJson,
  type OeeElements,
  type OeeElementsJson,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  type RecordFlagName,
  type RecordFlags,
  type RecordFlagsJson,
  type RegisterSpan,
  type RegisterSpanJson,
  type UnsignedMeterRecord,
  ZERO_ADDRESS,
} from "./records/meterRecord.js";
export {
  genesisChainState,
  type MeterRecordChainState,
  nextChainState,
} from "./records/meterRecordChain.js";
export type { MeterRecordErrorCode } from "./records/meterRecordErrors.js";
export {
  EIP712_DOMAIN_FIELDS,
  METER_EXTRAS_TYPE_STRING,
  METER_EXTRAS_TYPES,
  METER_RECORD_DOMAIN_NAME,
  METER_RECORD_DOMAIN_VERSION,
  METER_RECORD_TYPE_STRING,
  METER_RECORD_TYPES,
  type MeterExtrasMessage,
  type MeterRecordDomain,
  type MeterRecordMessage,
  meterRecordDomain,
  type TypedDataJson,
  unitToBytes8,
  VOLUME_BASIS_CODES,
} from "./records/meterRecordTypedData.js";
export {
  createMeterRecordVerifier,
  type MeterRecordCapacity,
  type MeterRecordCheck,
  type MeterRecordVerifier,
  type VerifyMeterRecordsParameters,
} from "./records/meterRecordVerifier.js";
export {
  PERIOD_STATEMENT_TYPE_STRING,
  PERIOD_STATEMENT_TYPES,
  type PeriodStatement,
  type PeriodStatementJson,
  type PeriodStatementMessage,
  type UnsignedPeriodStatement,
} from "./records/periodStatement.js";
export { periodStatementFromJson, periodStatementToJson } from "./records/periodStatementJson.js";
export {
  type PreVerifiedRecord,
  type PreVerifiedRecords,
  preVerifyMeterRecord,
} from "./records/preVerifyMeterRecord.js";
export {
  type SignMeterRecordErrorType,
  type SignMeterRecordParameters,
  signMeterRecord,
} from "./records/signMeterRecord.js";
export { signPeriodStatement } from "./records/signPeriodStatement.js";
export {
  type VerifyMeterRecordsReturnType,
  verifyMeterRecords,
} from "./records/verifyMeterRecords.js";
export {
  type VerifyPeriodStatementParameters,
  type VerifyPeriodStatementReturnType,
  verifyPeriodStatement,
} from "./records/verifyPeriodStatement.js";
export { type CliIo, runCli } from "./runCli.js";
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
export { parseStrictJson, type StrictJsonErrorCode } from "./strictJson.js";
export {
  type IsoTimeState,
  isoTimeStates,
  type OeeRatio,
  type OeeResult,
  type OeeTimeElements,
  type OeeUndefinedReason,
  type PlannedInterval,
  type StateSpanEvent,
} from "./timeElements.js";
export { rateUnits, type UnitCode, type VolumeBasis, volumeBases } from "./units.js";
export {
  invoiceAnchorFromJson,
  lineKinds,
  type VerifyExportStreamOptions,
  verifyExport,
  verifyExportReport,
  verifyExportStream,
} from "./verifyExport.js";
export { verifyStatementLines } from "./verifyStatementLines.js";
export type { MeterWindow, WindowUsage } from "./window.js";
