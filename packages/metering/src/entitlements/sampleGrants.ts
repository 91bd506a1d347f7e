import { Wallet } from "ethers";
import { dec } from "../quantity.js";
import { GENESIS_HASH, type MeterRecordBinding, ZERO_ADDRESS } from "../records/meterRecord.js";
import { OTHER_TEST_KEY, TEST_KEY } from "../records/sampleMeterRecords.js";
import type { EntitlementContext } from "./evaluateFeature.js";
import {
  type EntitlementGrant,
  entitlementGrantDigest,
  type UnsignedEntitlementGrant,
} from "./grant.js";
import { signEntitlementGrant } from "./signGrant.js";

// Test fixtures (internal, not exported from the package): the vendor signs with
// OTHER_TEST_KEY, the machine's signer is TEST_KEY (the key of the meter-record vectors).

/** The vendor's key. @internal */
export const VENDOR = new Wallet(OTHER_TEST_KEY);
/** The machine's signer. @internal */
export const MACHINE = new Wallet(TEST_KEY);

/** The feature agreement of the samples (off-chain). @internal */
export const FEATURE_BINDING: MeterRecordBinding = {
  agreementId: "agr-compressor-7-boost",
  chainId: 0,
  verifyingContract: ZERO_ADDRESS,
};

/** The context of the samples. @internal */
export const SAMPLE_CONTEXT: EntitlementContext = {
  binding: FEATURE_BINDING,
  issuer: VENDOR.address,
  machineId: "compressor-7",
  subject: MACHINE.address,
  featureId: "boost",
};

/** 2025-06-01T00:00:00Z, the samples' notBefore. @internal */
export const GRANT_START = new Date(Date.UTC(2025, 5, 1));

/** An unsigned "boost" grant: per hour of use, 10 h prepaid per day, 3 days offline grace. @internal */
export function sampleUnsignedGrant(
  overrides: Partial<UnsignedEntitlementGrant> = {},
): UnsignedEntitlementGrant {
  return {
    version: 1,
    ...FEATURE_BINDING,
    issuer: VENDOR.address,
    subject: MACHINE.address,
    machineId: "compressor-7",
    featureId: "boost",
    terms: { kind: "perUnit", unit: "HUR", budget: dec("10"), periodMs: 86_400_000 },
    notBefore: GRANT_START,
    notAfter: new Date(Date.UTC(2025, 6, 1)),
    offlineGraceMs: 3 * 86_400_000,
    generation: 0,
    prevGrant: GENESIS_HASH,
    ...overrides,
  };
}

/** A signed chain of `n` generations of the sample grant (each extends the validity). @internal */
export async function sampleGrantChain(
  n: number,
  overrides: Partial<UnsignedEntitlementGrant> = {},
): Promise<EntitlementGrant[]> {
  const out: EntitlementGrant[] = [];
  let prev: string = GENESIS_HASH;
  for (let g = 0; g < n; g++) {
    const unsigned = sampleUnsignedGrant({
      notAfter: new Date(Date.UTC(2025, 6 + g, 1)),
      ...overrides,
      generation: g,
      prevGrant: prev,
    });
    out.push(await signEntitlementGrant(unsigned, { signer: VENDOR }));
    prev = entitlementGrantDigest(unsigned);
  }
  return out;
}
