import { isMaaskitError } from "../errors.js";
import type { ExportLine, LineVerdict, VerifyContext } from "../exportReport.js";
import { SignatureChecker } from "../records/signatureCheck.js";
import { sameBinding } from "../records/signMeterRecord.js";
import { entitlementGrantFromJson, entitlementRevocationFromJson } from "./entitlementJson.js";
import {
  type EntitlementGrant,
  entitlementGrantDigest,
  entitlementRevocationDigest,
} from "./grant.js";

const checker = new SignatureChecker();

interface Checked {
  readonly reasons: string[];
  readonly messages: string[];
}

function fail(c: Checked, code: string, message: string): void {
  c.reasons.push(code);
  c.messages.push(`${code}: ${message}`);
}

/** Parses, encodes and checks the issuer's signature of one grant or revocation line. */
function checkSigned<T extends { issuer: string; signature: string }>(
  line: ExportLine,
  ctx: VerifyContext,
  parse: (json: unknown) => T,
  digestOf: (x: T) => string,
  c: Checked,
): { value: T; digest: string; signed: boolean } | undefined {
  let value: T;
  let digest: string;
  try {
    value = parse(line.json);
    digest = digestOf(value);
  } catch (err) {
    if (!isMaaskitError(err)) throw err;
    fail(c, err.code, err.shortMessage);
    return undefined;
  }
  const ok = checker.check(digest, value.signature, value.issuer);
  if (ok !== true) {
    fail(c, "metering.entitlement.badSignature", `the signature is not the issuer's (${ok})`);
    return { value, digest, signed: false };
  }
  if (
    ctx.signers.length > 0 &&
    !ctx.signers.some((s) => s.toLowerCase() === value.issuer.toLowerCase())
  ) {
    fail(
      c,
      "metering.entitlement.wrongIssuer",
      `issued by ${value.issuer}, not an expected --signer`,
    );
  }
  const bound = value as unknown as EntitlementGrant;
  if (ctx.agreement !== undefined && !sameBinding(bound, ctx.agreement)) {
    fail(c, "metering.entitlement.wrongAgreement", `bound to ${bound.agreementId}`);
  }
  return { value, digest, signed: true };
}

/**
 * `maaskit verify` for entitlement grant lines (`"kind":"entitlementGrant"`,
 * docs/entitlements.md): each grant's encoding and issuer signature, `--signer` as the
 * expected issuers, and per (agreement, machine, feature) an unbroken generation chain
 * (generation 0, or the first one in the file as an anchor; each `prevGrant` the digest of
 * the one before).
 */
export function verifyGrantLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const heads = new Map<string, { generation: number; digest: string }>();
  return lines.map((line) => {
    const c: Checked = { reasons: [], messages: [] };
    const checked = checkSigned(line, ctx, entitlementGrantFromJson, entitlementGrantDigest, c);
    const g = checked?.value;
    if (checked?.signed === true && g !== undefined) {
      const key = `${g.agreementId}\u0000${g.chainId}\u0000${g.machineId}\u0000${g.featureId}`;
      const head = heads.get(key);
      if (
        head !== undefined &&
        (g.generation !== head.generation + 1 || g.prevGrant !== head.digest)
      ) {
        fail(
          c,
          g.generation <= head.generation
            ? "metering.entitlement.rolledBack"
            : "metering.entitlement.brokenChain",
          `generation ${g.generation} after generation ${head.generation} (prevGrant ${g.prevGrant})`,
        );
      }
      if (c.reasons.length === 0)
        heads.set(key, { generation: g.generation, digest: checked.digest });
    }
    return {
      line: line.line,
      kind: "entitlementGrant",
      label: g === undefined ? "grant" : `grant ${g.featureId} gen ${g.generation}`,
      ...(g === undefined
        ? {}
        : { seq: g.generation, signer: g.issuer, agreementId: g.agreementId }),
      valid: c.reasons.length === 0,
      reasons: c.reasons,
      messages: c.messages,
    };
  });
}

/** `maaskit verify` for revocation lines (`"kind":"entitlementRevocation"`): encoding and issuer signature. */
export function verifyRevocationLines(
  lines: readonly ExportLine[],
  ctx: VerifyContext,
): LineVerdict[] {
  return lines.map((line) => {
    const c: Checked = { reasons: [], messages: [] };
    const checked = checkSigned(
      line,
      ctx,
      entitlementRevocationFromJson,
      entitlementRevocationDigest,
      c,
    );
    const r = checked?.value;
    return {
      line: line.line,
      kind: "entitlementRevocation",
      label: r === undefined ? "revocation" : `revocation ${r.featureId} gen ${r.generation}`,
      ...(r === undefined ? {} : { agreementId: r.agreementId }),
      ...(checked?.signed === true ? { signer: r!.issuer } : {}),
      valid: c.reasons.length === 0,
      reasons: c.reasons,
      messages: c.messages,
    };
  });
}
