import type { Signer } from "ethers";
import { describe, expect, test } from "vitest";
import { MACHINE, sampleUnsignedGrant, VENDOR } from "./sampleGrants.js";
import { signEntitlementGrant } from "./signGrant.js";

/** A signer that only offers the generic Signer calls (like a KMS or hardware signer). */
function remoteSigner(wallet: typeof VENDOR): Signer {
  return {
    getAddress: async () => wallet.address,
    signTypedData: (domain, types, message) => wallet.signTypedData(domain, types, message),
  } as Signer;
}

describe("signEntitlementGrant", () => {
  test("behavior: a generic signer's signTypedData gives the same, checked signature as a Wallet", async () => {
    const byWallet = await signEntitlementGrant(sampleUnsignedGrant(), { signer: VENDOR });
    const byRemote = await signEntitlementGrant(sampleUnsignedGrant(), {
      signer: remoteSigner(VENDOR),
    });
    expect(byRemote.signature).toBe(byWallet.signature);
  });

  test("error: a signer that is not the grant's issuer is refused before signing", async () => {
    await expect(signEntitlementGrant(sampleUnsignedGrant(), { signer: MACHINE })).rejects.toThrow(
      expect.objectContaining({ code: "metering.entitlement.wrongIssuer" }),
    );
  });

  test("attack: a remote signer that answers with another key's signature is refused", async () => {
    const lying = {
      getAddress: async () => VENDOR.address,
      signTypedData: (d, t, m) => MACHINE.signTypedData(d, t, m),
    } as Signer;
    await expect(signEntitlementGrant(sampleUnsignedGrant(), { signer: lying })).rejects.toThrow(
      expect.objectContaining({ code: "metering.entitlement.badSignature" }),
    );
  });

  test("error: a budget with more than 9 decimals is notRepresentable, never rounded", async () => {
    const { dec } = await import("../quantity.js");
    const grant = sampleUnsignedGrant({
      terms: { kind: "perUnit", unit: "HUR", budget: dec("1.0000000001") },
    });
    await expect(signEntitlementGrant(grant, { signer: VENDOR })).rejects.toThrow(
      expect.objectContaining({ code: "metering.entitlement.notRepresentable" }),
    );
  });
});
