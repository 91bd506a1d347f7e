// @maaskit/settlement/conformance — the LedgerBackend conformance suite (needs vitest).
export {
  type DescribeLedgerBackendOptions,
  describeLedgerBackend,
  type LedgerBackendFactory,
  type LedgerBackendUnderTest,
} from "./conformance/describeLedgerBackend.js";
export {
  conformanceKeys,
  conformanceWallets,
  SCENARIO_START,
  type ScenarioClock,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
  scenarioUsage,
  type UsageSpec,
} from "./conformance/ledgerScenario.js";
export {
  type LedgerScenarioResult,
  runLedgerScenario,
  scenarioWorkOrder,
  workOrderId,
} from "./conformance/runLedgerScenario.js";
