import { fc, test } from "@fast-check/vitest";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak256, Signature, SigningKey, toUtf8Bytes, Wallet } from "ethers";
import { recoverAddress } from "ethers/transaction";
import { describe, expect } from "vitest";
import { linearCombination, pointTable, SignatureChecker } from "./signatureCheck.js";

const N = secp256k1.CURVE.n;
const G = secp256k1.ProjectivePoint.BASE;
const gAsKey = pointTable(secp256k1.CURVE.Gx, secp256k1.CURVE.Gy);

/** The reference: noble's u1·G + u2·Q, affine, or undefined at infinity. */
function reference(u1: bigint, u2: bigint, q: typeof G) {
  const sum = G.multiplyAndAddUnsafe(q, u1, u2);
  if (sum === undefined) return undefined;
  const a = sum.toAffine();
  return { x: a.x, y: a.y };
}

const scalar = fc.oneof(
  fc.bigInt({ min: 0n, max: N - 1n }),
  fc.bigInt({ min: 0n, max: 1024n }),
  fc.bigInt({ min: N - 1024n, max: N - 1n }),
);

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
  test.prop([scalar, scalar, fc.bigInt({ min: 1n, max: N - 1n })], { numRuns: 60 })(
    "behavior: u1·G + u2·Q equals noble's for any scalars and key",
    (u1, u2, d) => {
      const q = G.multiply(d).toAffine();
      expect(linearCombination(u1, u2, pointTable(q.x, q.y))).toEqual(
        reference(u1, u2, G.multiply(d)),
      );
    },
  );

  test.prop([scalar, scalar])(
    "behavior: with Q = G the sums meet their doubling and infinity cases",
    (u1, u2) => {
      expect(linearCombination(u1, u2, gAsKey)).toEqual(reference(u1, u2, G));
      // u·G + u·G adds a point to itself; u·G + (n − u)·G ends at infinity.
      expect(linearCombination(u1, u1, gAsKey)).toEqual(reference(u1, u1, G));
      expect(linearCombination(u1, (N - u1) % N, gAsKey)).toBeUndefined();
    },
  );

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
      const hex = (n: bigint) => n.toString(16).padStart(64, "0");
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
