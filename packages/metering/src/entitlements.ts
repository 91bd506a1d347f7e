// @maaskit/metering/entitlements — features on demand: signed entitlement grants a machine
// checks offline (docs/entitlements.md). Explicit named re-exports only.
export {
  type EntitlementGrantJson,
  type EntitlementRevocationJson,
  entitlementGrantFromJson,
  entitlementGrantToJson,
  entitlementRevocationFromJson,
  entitlementRevocationToJson,
} from "./entitlements/entitlementJson.js";
export {
  type BudgetWindow,
  budgetWindow,
  type EntitlementAllowance,
  type EntitlementContext,
  type EntitlementDenial,
  type EntitlementDenialCode,
  type EvaluateFeatureParameters,
  evaluateFeature,
  type FeatureDecision,
  type GrantVerification,
  verifyEntitlementGrant,
} from "./entitlements/evaluateFeature.js";
export {
  ENTITLEMENT_GRANT_TYPE_STRING,
  ENTITLEMENT_GRANT_TYPES,
  ENTITLEMENT_KIND_CODES,
  ENTITLEMENT_REVOCATION_TYPE_STRING,
  ENTITLEMENT_REVOCATION_TYPES,
  ENTITLEMENT_VERSION,
  type EntitlementEncodingErrorCode,
  type EntitlementGrant,
  type EntitlementGrantMessage,
  type EntitlementKind,
  type EntitlementRevocation,
  type EntitlementRevocationMessage,
  type EntitlementTerms,
  entitlementGrantDigest,
  entitlementGrantMessage,
  entitlementRevocationDigest,
  entitlementRevocationMessage,
  type UnsignedEntitlementGrant,
  type UnsignedEntitlementRevocation,
} from "./entitlements/grant.js";
export {
  FEATURE_CHANNEL_PREFIX,
  type FeatureBilling,
  type FeatureGate,
  type FeatureUse,
  type OpenFeatureGateParameters,
  openFeatureGate,
} from "./entitlements/openFeatureGate.js";
export { signEntitlementGrant, signEntitlementRevocation } from "./entitlements/signGrant.js";
