import type { Signer, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { Signature } from "ethers/crypto";
import { MaaskitError } from "../errors.js";
import { meterRecordDomain } from "../records/meterRecordTypedData.js";
import { SignatureChecker } from "../records/signatureCheck.js";
import {
  ENTITLEMENT_GRANT_TYPES,
  ENTITLEMENT_REVOCATION_TYPES,
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantDigest,
  entitlementGrantMessage,
  entitlementRevocationDigest,
  entitlementRevocationMessage,
  type UnsignedEntitlementGrant,
  type UnsignedEntitlementRevocation,
} from "./grant.js";

const checker = new SignatureChecker();

interface DigestSigner {
  readonly address: string;
  readonly signingKey: { sign(digest: string): { serialized: string } };
}

async function signTyped(
  signer: Signer,
  unsigned: UnsignedEntitlementGrant | UnsignedEntitlementRevocation,
  digest: string,
  types: Readonly<Record<string, readonly TypedDataField[]>>,
  message: object,
): Promise<string> {
  const issuer = unsigned.issuer;
  const d = signer as Partial<DigestSigner>;
  const isDigestSigner = typeof d.address === "string" && typeof d.signingKey?.sign === "function";
  const address = isDigestSigner ? (d.address as string) : await signer.getAddress();
  if (getAddress(address) !== issuer) {
    throw new MaaskitError(
      "metering.entitlement.wrongIssuer",
      "The signer is not the issuer the grant names",
      { details: { issuer, signer: getAddress(address) } },
    );
  }
  const signature = isDigestSigner
    ? (d.signingKey as DigestSigner["signingKey"]).sign(digest).serialized
    : Signature.from(
        await signer.signTypedData(
          meterRecordDomain(unsigned),
          types as Record<string, TypedDataField[]>,
          message as Record<string, unknown>,
        ),
      ).serialized;
  const ok = checker.check(digest, signature, issuer);
  if (ok !== true) {
    throw new MaaskitError(
      "metering.entitlement.badSignature",
      "The signer returned a signature that does not verify",
      { details: { issuer, failure: ok } },
    );
  }
  return signature;
}

/**
 * Signs a grant as EIP-712 typed data under its agreement's domain (the vendor's key,
 * which must be the grant's `issuer`). A `Wallet` signs the digest (RFC 6979: the same
 * grant always gives the same signature); another `Signer` gets `signTypedData`, checked.
 *
 * @example const grant = await signEntitlementGrant(unsigned, { signer: vendorWallet });
 */
export async function signEntitlementGrant(
  unsigned: UnsignedEntitlementGrant,
  { signer }: { readonly signer: Signer },
): Promise<EntitlementGrant> {
  const message = entitlementGrantMessage(unsigned);
  const digest = entitlementGrantDigest(unsigned);
  const signature = await signTyped(signer, unsigned, digest, ENTITLEMENT_GRANT_TYPES, message);
  return { ...unsigned, signature };
}

/** Signs a revocation (the grant's issuer). */
export async function signEntitlementRevocation(
  unsigned: UnsignedEntitlementRevocation,
  { signer }: { readonly signer: Signer },
): Promise<EntitlementRevocation> {
  const message = entitlementRevocationMessage(unsigned);
  const digest = entitlementRevocationDigest(unsigned);
  const signature = await signTyped(
    signer,
    unsigned,
    digest,
    ENTITLEMENT_REVOCATION_TYPES,
    message,
  );
  return { ...unsigned, signature };
}
