// @maaskit/gateway — public entry point. Explicit named re-exports only.

export { exportRecords, writeInvoices } from "./cli/common.js";
export { type ConfiguredLedger, ledgerFromConfig } from "./cli/ledgerFromConfig.js";
export {
  type OpcuaProfileSourceOptions,
  opcuaProfileSource,
  retryableOpcUaError,
} from "./cli/opcuaSource.js";
export { EXIT, type GatewayCliIo, runGatewayCli } from "./cli/runGatewayCli.js";
export {
  type ConfigProblem,
  type GatewayConfig,
  type GatewayConfigJson,
  gatewayConfigJsonSchema,
  gatewayConfigSchema,
  loadGatewayConfig,
  parseDuration,
  parseGatewayConfig,
} from "./config/gatewayConfig.js";
export { createGateway } from "./createGateway.js";
export {
  type CreatePeriodSettlerParameters,
  createPeriodSettler,
  type DuePeriod,
  type PeriodSettler,
  type SettlerEvent,
} from "./createPeriodSettler.js";
export { GatewayError, type GatewayErrorCode } from "./errors.js";
export { gatewayLogLine } from "./gatewayLogLine.js";
export type {
  BaselineOption,
  CreateGatewayParameters,
  Gateway,
  GatewayEvent,
  GatewayHealth,
  UnobservedTimePolicy,
} from "./gatewayTypes.js";
export { startCactusLedger } from "./ledgers/cactusLedger.js";
export {
  type EvmKeySource,
  type EvmKeys,
  type GatewayEvmLedger,
  loadEvmKey,
  startEvmLedger,
} from "./ledgers/evmLedger.js";
export {
  airServiceStates,
  compressorProfile,
  compressorStateNames,
  idealCycleTimeMs,
  type MachineProfile,
  type ProfileChannel,
  type ProfileMaintenance,
  type ProfileRate,
} from "./machineProfile.js";
export {
  type MaintenanceEvent,
  type MaintenanceWorkOrders,
  type MaintenanceWorkOrdersParameters,
  startMaintenanceWorkOrders,
} from "./maintenanceWorkOrders.js";
export { oeeElements } from "./oeeElements.js";
export { type RegisterBaseline, readBaseline, writeBaseline } from "./registerBaseline.js";
