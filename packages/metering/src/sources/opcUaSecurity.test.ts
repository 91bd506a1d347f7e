import {
  EndpointDescription,
  MessageSecurityMode,
  SecurityPolicy,
  UserTokenPolicy,
  UserTokenType,
} from "node-opcua-client";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { chooseEndpoint, opcUaSourceIsInsecure } from "./opcUaSecurity.js";

const cert = Buffer.from("30820001", "hex");
const url = "opc.tcp://127.0.0.1:4840/UA/X";

function ep(
  mode: MessageSecurityMode,
  policy: SecurityPolicy,
  tokens: UserTokenType[] = [UserTokenType.Anonymous],
): EndpointDescription {
  return new EndpointDescription({
    endpointUrl: url,
    securityMode: mode,
    securityPolicyUri: policy,
    serverCertificate: mode === MessageSecurityMode.None ? Buffer.alloc(0) : cert,
    userIdentityTokens: tokens.map(
      (t, i) => new UserTokenPolicy({ policyId: `p${i}`, tokenType: t }),
    ),
  });
}

const M = MessageSecurityMode;
const P = SecurityPolicy;
const all = [
  ep(M.None, P.None),
  ep(M.Sign, P.Aes256_Sha256_RsaPss),
  ep(M.Sign, P.Basic256Sha256),
  ep(M.SignAndEncrypt, P.Basic128Rsa15),
  ep(M.SignAndEncrypt, P.Aes128_Sha256_RsaOaep),
  ep(M.SignAndEncrypt, P.Basic256Sha256),
  ep(M.SignAndEncrypt, P.Aes256_Sha256_RsaPss),
];

describe("chooseEndpoint", () => {
  it("default: the strongest mode, then the strongest current policy", () => {
    const c = chooseEndpoint(all, {}, url);
    expect([c.mode, c.policy]).toEqual(["SignAndEncrypt", "Aes256_Sha256_RsaPss"]);
    const noAes256 = all.filter((e) => e.securityPolicyUri !== P.Aes256_Sha256_RsaPss);
    const d = chooseEndpoint(noAes256, {}, url);
    expect([d.mode, d.policy]).toEqual(["SignAndEncrypt", "Basic256Sha256"]);
    // mode ranks before policy: SignAndEncrypt/Aes128 beats Sign/Aes256
    const e = chooseEndpoint(
      all.filter(
        (x) =>
          x.securityMode !== M.SignAndEncrypt || x.securityPolicyUri === P.Aes128_Sha256_RsaOaep,
      ),
      {},
      url,
    );
    expect([e.mode, e.policy]).toEqual(["SignAndEncrypt", "Aes128_Sha256_RsaOaep"]);
  });

  it("behavior: Sign when that is all the server has; never None or deprecated policies by itself", () => {
    const c = chooseEndpoint([ep(M.None, P.None), ep(M.Sign, P.Basic256Sha256)], {}, url);
    expect([c.mode, c.policy]).toEqual(["Sign", "Basic256Sha256"]);
    for (const offered of [
      [ep(M.None, P.None)],
      [ep(M.SignAndEncrypt, P.Basic128Rsa15), ep(M.SignAndEncrypt, P.Basic256)],
    ]) {
      let err: unknown;
      try {
        chooseEndpoint(offered, {}, url);
      } catch (e) {
        err = e;
      }
      expect(isMaaskitError(err, "metering.opcua.noSecureEndpoint")).toBe(true);
      expect((err as Error).message).toContain('security: { mode: "None" }');
    }
    // a deprecated policy only when named
    const named = chooseEndpoint([ep(M.SignAndEncrypt, P.Basic256)], { policy: "Basic256" }, url);
    expect(named.policy).toBe("Basic256");
  });

  it("args: an explicit mode or policy is used exactly; the user token type must be offered", () => {
    expect(chooseEndpoint(all, { mode: "Sign" }, url).mode).toBe("Sign");
    expect(chooseEndpoint(all, { mode: "Sign" }, url).policy).toBe("Aes256_Sha256_RsaPss");
    expect(chooseEndpoint(all, { policy: "Basic256Sha256" }, url).policy).toBe("Basic256Sha256");
    const withUsers = [
      ep(M.SignAndEncrypt, P.Aes256_Sha256_RsaPss),
      ep(M.Sign, P.Basic256Sha256, [UserTokenType.UserName]),
    ];
    const c = chooseEndpoint(
      withUsers,
      { user: { type: "userName", userName: "u", password: "p" } },
      url,
    );
    expect([c.mode, c.policy]).toEqual(["Sign", "Basic256Sha256"]);
  });

  it("behavior: only an explicit mode None counts as an insecure source", () => {
    expect(opcUaSourceIsInsecure(undefined)).toBe(false);
    expect(opcUaSourceIsInsecure({})).toBe(false);
    expect(opcUaSourceIsInsecure({ mode: "Sign" })).toBe(false);
    expect(opcUaSourceIsInsecure({ mode: "None" })).toBe(true);
  });
});
