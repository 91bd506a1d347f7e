import { fc, test } from "@fast-check/vitest";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak256, Signature, SigningKey, toUtf8Bytes, Wallet } from "ethers";
import { recoverAddress } from "ethers/transaction";
import { describe, expect } from "vitest";
import { SignatureChecker } from "./signatureCheck.js";

const N = secp256k1.CURVE.n;
const hex = (n: bigint) => n.toString(16).padStart(64, "0");

/** What `ecrecover` would say: low s, v 27/28, and recovery to the address. */
function referenceCheck(digest: string, signature: string, address: string): boolean {
  try {
    const sig = Signature.from(signature);
    if (BigInt(sig.s) > N >> 1n) return false;
    return recoverAddress(digest, signature) === address;
  } catch {
    return false;
  }
}

describe("signatureCheck", () => {
  test.prop(
    [
      fc.bigInt({ min: 1n, max: N - 1n }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.constantFrom(0, 1, 2),
    ],
    { numRuns: 60 },
  )(
    "behavior: libsecp256k1 agrees with ethers' ecrecover for any key and digest",
    (d, bytes, twist) => {
      const key = new SigningKey(`0x${hex(d)}`);
      const address = new Wallet(key.privateKey).address;
      const digest = keccak256(bytes);
      const sig = key.sign(digest);
      // twist 0: as signed; 1: the key checked against another address; 2: another digest.
      const checkedDigest = twist === 2 ? keccak256(digest) : digest;
      const checkedAddress = twist === 1 ? `0x${"ab".repeat(20)}` : address;
      const checker = new SignatureChecker();
      for (let i = 0; i < 2; i++) {
        expect(checker.check(checkedDigest, sig.serialized, checkedAddress) === true).toBe(
          referenceCheck(checkedDigest, sig.serialized, checkedAddress),
        );
      }
    },
  );

  test("error: r or s zero or ≥ n are malformed, as ecrecover rejects them", () => {
    const key = new SigningKey(keccak256(toUtf8Bytes("maaskit.signatureCheck.range")));
    const address = new Wallet(key.privateKey).address;
    const digest = keccak256(toUtf8Bytes("record"));
    const sig = key.sign(digest);
    const r = sig.r.slice(2);
    const s = sig.s.slice(2);
    const v = sig.v === 27 ? "1b" : "1c";
    const checker = new SignatureChecker();
    for (const bad of [
      `0x${hex(0n)}${s}${v}`,
      `0x${hex(N)}${s}${v}`,
      `0x${hex(N + 1n)}${s}${v}`,
      `0x${r}${hex(0n)}${v}`,
      `0x${r}${hex(N)}${v}`,
      `0x${"ff".repeat(32)}${s}${v}`,
    ]) {
      expect(checker.check(digest, bad, address)).toBe("malformed");
      expect(referenceCheck(digest, bad, address)).toBe(false);
    }
    for (const v2 of ["00", "01", "1d", "25"]) {
      expect(checker.check(digest, `0x${r}${s}${v2}`, address)).toBe("malformed");
    }
  });

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(50)], { numRuns: 40 })(
    "behavior: accepts exactly what ecrecover accepts (valid, v flipped, r or s altered)",
    (digestBytes, bump) => {
      const wallet = new Wallet(keccak256(toUtf8Bytes("maaskit.signatureCheck.test")));
      const checker = new SignatureChecker();
      const digest = keccak256(digestBytes);
      const signature = wallet.signingKey.sign(digest).serialized;
      // Twice: the first check recovers the key, the second uses its table.
      for (let i = 0; i < 2; i++) {
        expect(checker.check(digest, signature, wallet.address)).toBe(true);
      }
      const r = signature.slice(2, 66);
      const s = signature.slice(66, 130);
      const v = signature.slice(130);
      const variants = [
        `0x${r}${s}${v === "1b" ? "1c" : "1b"}`,
        `0x${hex((BigInt(`0x${r}`) + BigInt(bump) + 1n) % N || 1n)}${s}${v}`,
        `0x${r}${hex((BigInt(`0x${s}`) + BigInt(bump) + 1n) % (N >> 1n) || 1n)}${v}`,
        wallet.signingKey.sign(keccak256(digest)).serialized,
      ];
      for (const variant of variants) {
        const expected = referenceCheck(digest, variant, wallet.address);
        expect(checker.check(digest, variant, wallet.address) === true).toBe(expected);
      }
    },
  );

  test("error: high s, bad v and malformed signatures are named", () => {
    const key = new SigningKey(keccak256(toUtf8Bytes("maaskit.signatureCheck.high-s")));
    const digest = keccak256(toUtf8Bytes("record"));
    const sig = key.sign(digest);
    const highS = `0x${sig.r.slice(2)}${(N - BigInt(sig.s)).toString(16).padStart(64, "0")}${sig.v === 27 ? "1c" : "1b"}`;
    const checker = new SignatureChecker();
    const address = new Wallet(key.privateKey).address;
    expect(checker.check(digest, sig.serialized, address)).toBe(true);
    expect(checker.check(digest, highS, address)).toBe("highS");
    expect(checker.check(digest, `${sig.serialized.slice(0, -2)}1d`, address)).toBe("malformed");
    expect(checker.check(digest, sig.serialized.toUpperCase(), address)).toBe("malformed");
    expect(checker.check(digest, sig.serialized, `0x${"11".repeat(20)}`)).toBe("mismatch");
  });
});
