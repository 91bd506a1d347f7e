import type { Signer, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { Signature } from "ethers/crypto";
import { MaaskitError } from "../errors.js";
import { encodePeriodStatement } from "./encodePeriodStatement.js";
import { meterRecordDomain } from "./meterRecordTypedData.js";
import {
  PERIOD_STATEMENT_TYPES,
  type PeriodStatement,
  type UnsignedPeriodStatement,
} from "./periodStatement.js";
import { SignatureChecker } from "./signatureCheck.js";

const checker = new SignatureChecker();

export async function signPeriodStatement(
  unsigned: UnsignedPeriodStatement,
  { signer }: { readonly signer: Signer },
): Promise<PeriodStatement> {
  const { message, digest } = encodePeriodStatement(unsigned);
  const s = signer as Signer & {
    address?: string;
    signingKey?: { sign(d: string): { serialized: string } };
  };
  let signature: string;
  let address: string;
  if (typeof s.address === "string" && typeof s.signingKey?.sign === "function") {
    signature = s.signingKey.sign(digest).serialized;
    address = s.address;
  } else {
    address = await signer.getAddress();
    signature = Signature.from(
      await signer.signTypedData(
        meterRecordDomain(unsigned),
        PERIOD_STATEMENT_TYPES as Record<string, TypedDataField[]>,
        message as unknown as Record<string, unknown>,
      ),
    ).serialized;
    const ok = checker.check(digest, signature, address);
    if (ok !== true) {
      throw new MaaskitError(
        "metering.record.badSignature",
        "The signer returned a signature that does not verify",
        {
          details: { signer: address, failure: ok },
        },
      );
    }
  }
  return { ...unsigned, signer: getAddress(address), signature };
}

/** Options of {@link verifyPeriodStatement}. */
