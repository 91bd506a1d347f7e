import type { Agreement } from "./agreement.js";

/**
 * True when `address` is one of the agreement's signer keys and `at` lies in its validity
 * range `[validFrom, validUntil)`. Addresses compare case-insensitively. Ledgers check a
 * record's `periodEnd` (the instant the window closed and was signed).
 *
 * @example isSignerAllowed(agreement, record.signer, record.periodEnd)
 */
export function isSignerAllowed(
  agreement: Pick<Agreement, "signers">,
  address: string,
  at: Date,
): boolean {
  const wanted = address.toLowerCase();
  const t = at.getTime();
  return agreement.signers.some(
    (s) =>
      s.address.toLowerCase() === wanted &&
      s.validFrom.getTime() <= t &&
      (s.validUntil === undefined || t < s.validUntil.getTime()),
  );
}
