import type { Agreement } from "./agreement.js";
import type { LedgerBackend, OpenAgreementResult } from "./ledger.js";

/**
 * Opens an agreement when one process acts for both parties (a development setup, a test, an
 * operator holding both keys): the provider offers it, the customer accepts it. Where the
 * parties are separate, each calls its own half (`openAgreement` by one,
 * `acceptAgreement` by the other).
 *
 * @example const { recordDomain } = await openAgreementWithConsent(ledger, agreement)
 */
export async function openAgreementWithConsent(
  ledger: Pick<LedgerBackend, "openAgreement" | "acceptAgreement">,
  agreement: Agreement,
): Promise<OpenAgreementResult> {
  const offered = await ledger.openAgreement(agreement, { by: agreement.parties.provider });
  await ledger.acceptAgreement({
    agreementId: agreement.agreementId,
    by: agreement.parties.customer,
  });
  return offered;
}
