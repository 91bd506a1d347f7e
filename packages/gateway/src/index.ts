// @maaskit/gateway — public entry point. Explicit named re-exports only.
export {
  type BaselineOption,
  type CreateGatewayParameters,
  createGateway,
  type Gateway,
  type GatewayEvent,
  type GatewayHealth,
  oeeElements,
  type UnobservedTimePolicy,
} from "./createGateway.js";
export {
  type CreatePeriodSettlerParameters,
  createPeriodSettler,
  type DuePeriod,
  type PeriodSettler,
  type SettlerEvent,
} from "./createPeriodSettler.js";
export { GatewayError, type GatewayErrorCode } from "./errors.js";
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
export { type RegisterBaseline, readBaseline, writeBaseline } from "./registerBaseline.js";
