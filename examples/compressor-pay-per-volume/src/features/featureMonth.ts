// Features on demand in the compressor example: a "boost" mode (higher pressure set-point,
// billed per hour in use, 40 h prepaid per 30 days) and remote condition monitoring (billed
// per month). Each feature is billed on its own agreement; the vendor (the provider) signs a
// grant per feature for the machine's key; the machine's gate counts every use before the
// feature acts and signs it as a meter record on `feature/<id>`; the ledger settles those
// records with the feature's tariff like any usage.
import { type ClockStatus, dec, GENESIS_HASH, type MeterRecord } from "@maaskit/metering";
import {
  type EntitlementGrant,
  type FeatureBilling,
  type FeatureGate,
  openFeatureGate,
  signEntitlementGrant,
} from "@maaskit/metering/entitlements";
import {
  type Agreement,
  billingPeriodAt,
  type Currency,
  type Invoice,
  isLedgerError,
  type LedgerBackend,
  openAgreementWithConsent,
  parseAgreement,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { keccak256, toUtf8Bytes, type Wallet } from "ethers";

const DAY = 86_400_000;

/** The features the compressor sells, with their tariffs (price per unit of use). */
export const COMPRESSOR_FEATURES = {
  boost: {
    unit: "HUR",
    unitPrice: "4.50",
    terms: { kind: "perUnit", unit: "HUR", budget: dec(40), periodMs: 30 * DAY },
  },
  monitoring: {
    unit: "MON",
    unitPrice: "29.00",
    terms: { kind: "perPeriod", unit: "MON", periodMs: 30 * DAY },
  },
} as const;

export type CompressorFeature = keyof typeof COMPRESSOR_FEATURES;

/** The agreement a feature is billed on: one per feature, monthly, invoiced. */
export function featureAgreement(p: {
  featureId: CompressorFeature;
  agreementId: string;
  provider: string;
  customer: string;
  machineId: string;
  machineSigner: string;
  currency: Currency;
  start: Date;
}): Agreement {
  const f = COMPRESSOR_FEATURES[p.featureId];
  return parseAgreement({
    agreementId: p.agreementId,
    name: `compressor feature ${p.featureId}`,
    parties: { provider: p.provider, customer: p.customer },
    machineId: p.machineId,
    signers: [{ address: p.machineSigner, validFrom: p.start.toISOString() }],
    tariff: {
      version: 1,
      metered: { unit: f.unit },
      pricing: { model: "perUnit", unitPrice: f.unitPrice },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: {
      symbol: p.currency.symbol,
      decimals: p.currency.decimals,
      ...(p.currency.address === undefined ? {} : { address: p.currency.address }),
    },
    billingPeriod: { kind: "calendarMonth", timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: p.start.toISOString(),
    status: "active",
  });
}

/** One use of a feature: when, and how much (hours of boost; monitoring counts per period). */
export interface FeatureUseSpec {
  readonly featureId: CompressorFeature;
  readonly at: Date;
  readonly amount?: Decimal;
}

/** What a month of feature use left: the records each ledger settled and its invoices. */
export interface FeatureMonth {
  readonly gate: FeatureGate;
  readonly agreements: Record<CompressorFeature, Agreement>;
  readonly records: Record<CompressorFeature, MeterRecord[]>;
  readonly invoices: Record<CompressorFeature, Invoice>;
  readonly denied: { featureId: CompressorFeature; at: Date; reason: string }[];
}

/**
 * Opens both feature agreements on `ledger`, grants both features to the machine, runs the
 * uses through the machine's gate, brings the records to the end of the month, submits them
 * and settles the month on each agreement.
 */
export async function runFeatureMonth(p: {
  ledger: LedgerBackend;
  gateFile: string;
  vendor: Wallet;
  customer: string;
  machine: Wallet;
  machineId: string;
  currency: Currency;
  month: { start: Date; end: Date };
  uses: readonly FeatureUseSpec[];
  idPrefix: string;
}): Promise<FeatureMonth> {
  const ids = Object.keys(COMPRESSOR_FEATURES) as CompressorFeature[];
  const agreements = {} as Record<CompressorFeature, Agreement>;
  const features: Record<string, FeatureBilling> = {};
  const grants: EntitlementGrant[] = [];
  for (const featureId of ids) {
    const agreement = featureAgreement({
      featureId,
      agreementId: keccak256(toUtf8Bytes(`${p.idPrefix}/${featureId}`)),
      provider: p.vendor.address,
      customer: p.customer,
      machineId: p.machineId,
      machineSigner: p.machine.address,
      currency: p.currency,
      start: p.month.start,
    });
    agreements[featureId] = agreement;
    const { recordDomain } = await openAgreementWithConsent(p.ledger, agreement);
    const binding = { agreementId: agreement.agreementId, ...recordDomain };
    features[featureId] = {
      ...binding,
      billingPeriodEnd: (at) => billingPeriodAt(agreement, at).end,
    };
    grants.push(
      await signEntitlementGrant(
        {
          version: 1,
          ...binding,
          issuer: p.vendor.address,
          subject: p.machine.address,
          machineId: p.machineId,
          featureId,
          terms: COMPRESSOR_FEATURES[featureId].terms,
          notBefore: p.month.start,
          notAfter: new Date(p.month.start.getTime() + 365 * DAY),
          offlineGraceMs: 7 * DAY,
          generation: 0,
          prevGrant: GENESIS_HASH,
        },
        { signer: p.vendor },
      ),
    );
  }
  // The vendor registers the grants on the ledger, which then checks every use record against
  // them; the EVM contracts hold no grants yet (docs/evm.md): there the gate alone checks.
  for (const grant of grants) {
    await p.ledger.grantEntitlement({ grant }).catch((err: unknown) => {
      if (!isLedgerError(err, "settlement.ledger.unsupported")) throw err;
    });
  }
  let now = p.month.start;
  const clock: ClockStatus = "synchronised";
  const gate = await openFeatureGate({
    file: p.gateFile,
    issuer: p.vendor.address,
    machineId: p.machineId,
    signer: p.machine,
    features,
    clock: () => clock,
    now: () => now,
  });
  gate.sync({ grants, at: now });
  const denied: FeatureMonth["denied"] = [];
  for (const use of p.uses) {
    now = use.at;
    gate.sync({ at: now });
    const d = await gate.useFeature(
      use.featureId,
      use.amount === undefined ? {} : { amount: use.amount },
    );
    if (!d.allowed) denied.push({ featureId: use.featureId, at: use.at, reason: d.reason });
  }
  now = p.month.end;
  await gate.closePeriods(p.month.end);
  const records = {} as Record<CompressorFeature, MeterRecord[]>;
  const invoices = {} as Record<CompressorFeature, Invoice>;
  for (const featureId of ids) {
    const agreementId = agreements[featureId].agreementId;
    records[featureId] = gate.records(agreementId);
    await p.ledger.submitRecords({ agreementId, records: records[featureId] });
    invoices[featureId] = await p.ledger.settlePeriod({ agreementId, period: p.month });
  }
  return { gate, agreements, records, invoices, denied };
}
