import { createHash, X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type {
  EndpointDescription,
  MessageSecurityMode,
  SecurityPolicy,
  UserIdentityInfo,
  UserTokenType,
} from "node-opcua-client";
import { MaaskitError } from "../errors.js";
import { writeFileAtomic } from "../journal/fsUtil.js";
import { loadNodeOpcuaClient } from "./nodeOpcuaClient.js";

/** OPC UA message security modes, strongest first. */
export type OpcUaSecurityMode = "SignAndEncrypt" | "Sign" | "None";

/**
 * OPC UA security policies `fromOpcUa` knows. The first three (current, SHA-256) are chosen
 * automatically, strongest first; the deprecated SHA-1 policies `Basic256` and
 * `Basic128Rsa15` only when named explicitly.
 */
export type OpcUaSecurityPolicy =
  | "Aes256_Sha256_RsaPss"
  | "Basic256Sha256"
  | "Aes128_Sha256_RsaOaep"
  | "Basic256"
  | "Basic128Rsa15";

/** Who the client is towards the server (the session's user identity). */
export type OpcUaUserIdentity =
  | { readonly type: "anonymous" }
  | { readonly type: "userName"; readonly userName: string; readonly password: string }
  | {
      readonly type: "certificate";
      /** PEM or DER file of the user's X.509 certificate. */
      readonly certificateFile: string;
      /** PEM file of its private key. */
      readonly privateKeyFile: string;
    };

/**
 * How `fromOpcUa` secures the connection: a plain serialisable object (it can come from a
 * JSON config file). Every field is optional; the defaults are strict.
 */
export interface OpcUaSecurityOptions {
  /**
   * Message security. `"auto"` (default): the strongest the server offers of
   * SignAndEncrypt > Sign — never None. `"SignAndEncrypt"` / `"Sign"`: exactly that mode.
   * `"None"`: no signature, no encryption, no server authentication — only by this explicit
   * opt-in; it is logged as a warning, and records built from such a source must carry flag
   * `insecureSource` (see {@link opcUaSourceIsInsecure}).
   */
  readonly mode?: "auto" | OpcUaSecurityMode;
  /**
   * Security policy. `"auto"` (default): the strongest offered of Aes256_Sha256_RsaPss >
   * Basic256Sha256 > Aes128_Sha256_RsaOaep. A named policy is used exactly (this is the only
   * way to get the deprecated Basic256 or Basic128Rsa15).
   */
  readonly policy?: "auto" | OpcUaSecurityPolicy;
  /**
   * Which server certificates are accepted. `"list"` (default): only certificates in the
   * trust list `<pkiDir>/trusted/certs` (an unknown one is refused with
   * `metering.opcua.untrustedServer`, and node-opcua saves it in `<pkiDir>/rejected`).
   * `"firstUse"` (trust on first use): the certificate seen on the first connection to an
   * endpoint is trusted and pinned to that endpoint in `<pkiDir>/maaskit-pinned-servers.json`;
   * a different certificate on that endpoint later is refused with
   * `metering.opcua.serverCertificateChanged`.
   */
  readonly trust?: "list" | "firstUse";
  /** The session's user identity. Default anonymous. */
  readonly user?: OpcUaUserIdentity;
}

/** The security a connection was established with, as `fromOpcUa` reports it. */
export interface OpcUaConnectionSecurity {
  readonly endpointUrl: string;
  readonly mode: OpcUaSecurityMode;
  /** Policy name (`"None"` for mode None). */
  readonly policy: OpcUaSecurityPolicy | "None";
  /** SHA-1 thumbprint (hex) of the server certificate; absent for mode None. */
  readonly serverThumbprint?: string;
  /** How the server certificate was accepted. */
  readonly trust: "list" | "pinned" | "pinnedNow" | "none";
  readonly user: OpcUaUserIdentity["type"];
}

// node-opcua-client is an optional peer dependency, loaded on first use: its enums are read
// when needed, not at import
function policyUri(): Readonly<Record<OpcUaSecurityPolicy, string>> {
  const { SecurityPolicy } = loadNodeOpcuaClient();
  return {
    Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
    Basic256Sha256: SecurityPolicy.Basic256Sha256,
    Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
    Basic256: SecurityPolicy.Basic256,
    Basic128Rsa15: SecurityPolicy.Basic128Rsa15,
  };
}

/** Policies chosen automatically, strongest first. */
export const OPCUA_AUTO_POLICIES: readonly OpcUaSecurityPolicy[] = [
  "Aes256_Sha256_RsaPss",
  "Basic256Sha256",
  "Aes128_Sha256_RsaOaep",
];
const MODES: readonly OpcUaSecurityMode[] = ["SignAndEncrypt", "Sign", "None"];
function modeValue(): Readonly<Record<OpcUaSecurityMode, MessageSecurityMode>> {
  const { MessageSecurityMode } = loadNodeOpcuaClient();
  return {
    SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
    Sign: MessageSecurityMode.Sign,
    None: MessageSecurityMode.None,
  };
}

/**
 * True when a source configured with these security options is insecure (mode None): the
 * gateway passes it to the recorder (`build: { insecureSource: true }`) so every record of
 * that source carries flag `insecureSource` (bit 8).
 */
export function opcUaSourceIsInsecure(security: OpcUaSecurityOptions | undefined): boolean {
  return security?.mode === "None";
}

/** Problems with `security` options, for `metering.opcua.invalidConfig`. */
export function securityProblems(security: unknown): string[] {
  if (security === undefined) return [];
  if (typeof security !== "object" || security === null) return ["security must be an object"];
  const s = security as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(s)) {
    if (!["mode", "policy", "trust", "user"].includes(key))
      problems.push(`security.${key} is not a known option (mode, policy, trust, user)`);
  }
  if (s.mode !== undefined && s.mode !== "auto" && !MODES.includes(s.mode as OpcUaSecurityMode))
    problems.push("security.mode must be auto, SignAndEncrypt, Sign or None");
  if (s.policy !== undefined && s.policy !== "auto" && !(String(s.policy) in policyUri()))
    problems.push(`security.policy must be auto or one of ${Object.keys(policyUri()).join(", ")}`);
  if (s.mode === "None" && s.policy !== undefined && s.policy !== "auto")
    problems.push("security.policy must be absent with mode None");
  if (s.trust !== undefined && s.trust !== "list" && s.trust !== "firstUse")
    problems.push("security.trust must be list or firstUse");
  if (s.user !== undefined) {
    const u = s.user as Record<string, unknown> | null;
    if (typeof u !== "object" || u === null) problems.push("security.user must be an object");
    else if (u.type === "userName") {
      if (typeof u.userName !== "string" || u.userName.length === 0)
        problems.push("security.user.userName must be a non-empty string");
      if (typeof u.password !== "string") problems.push("security.user.password must be a string");
    } else if (u.type === "certificate") {
      if (typeof u.certificateFile !== "string" || u.certificateFile.length === 0)
        problems.push("security.user.certificateFile must be a file path");
      if (typeof u.privateKeyFile !== "string" || u.privateKeyFile.length === 0)
        problems.push("security.user.privateKeyFile must be a file path");
    } else if (u.type !== "anonymous") {
      problems.push("security.user.type must be anonymous, userName or certificate");
    }
  }
  return problems;
}

/** SHA-1 thumbprint of a DER certificate (the first of a chain), lower-case hex. */
export function certificateThumbprint(der: Buffer): string {
  const { crypto_utils } = loadNodeOpcuaClient();
  const first = crypto_utils.split_der(der)[0] ?? der;
  return createHash("sha1").update(first).digest("hex");
}

function modeName(m: MessageSecurityMode): OpcUaSecurityMode | undefined {
  return MODES.find((name) => modeValue()[name] === m);
}

function policyName(uri: string): OpcUaSecurityPolicy | "None" | undefined {
  const { SecurityPolicy } = loadNodeOpcuaClient();
  if (uri === SecurityPolicy.None) return "None";
  return (Object.keys(policyUri()) as OpcUaSecurityPolicy[]).find((p) => policyUri()[p] === uri);
}

function tokenType(): Readonly<Record<OpcUaUserIdentity["type"], UserTokenType>> {
  const { UserTokenType } = loadNodeOpcuaClient();
  return {
    anonymous: UserTokenType.Anonymous,
    userName: UserTokenType.UserName,
    certificate: UserTokenType.Certificate,
  };
}

/** The endpoint chosen for a connection. */
export interface ChosenEndpoint {
  readonly mode: Exclude<OpcUaSecurityMode, "None">;
  readonly policy: OpcUaSecurityPolicy;
  readonly securityMode: MessageSecurityMode;
  readonly securityPolicy: SecurityPolicy;
  readonly serverCertificate: Buffer;
}

/**
 * Picks the strongest acceptable endpoint: mode SignAndEncrypt > Sign (or exactly the one
 * asked for), then the policy rank (or exactly the one asked for), among endpoints that carry a
 * server certificate and accept the configured user token type. Throws
 * `metering.opcua.noSecureEndpoint` naming what the server offers.
 */
export function chooseEndpoint(
  endpoints: readonly EndpointDescription[],
  security: OpcUaSecurityOptions,
  endpointUrl: string,
): ChosenEndpoint {
  const { UserTokenType } = loadNodeOpcuaClient();
  const modes: OpcUaSecurityMode[] =
    security.mode === undefined || security.mode === "auto"
      ? ["SignAndEncrypt", "Sign"]
      : [security.mode];
  const policies: OpcUaSecurityPolicy[] =
    security.policy === undefined || security.policy === "auto"
      ? [...OPCUA_AUTO_POLICIES]
      : [security.policy];
  const token = tokenType()[security.user?.type ?? "anonymous"];
  let best: { rank: number; chosen: ChosenEndpoint } | undefined;
  for (const e of endpoints) {
    const mode = modeName(e.securityMode);
    const policy = policyName(e.securityPolicyUri ?? "");
    if (mode === undefined || mode === "None" || policy === undefined || policy === "None")
      continue;
    const mi = modes.indexOf(mode);
    const pi = policies.indexOf(policy);
    if (mi < 0 || pi < 0) continue;
    if (!e.serverCertificate || e.serverCertificate.length === 0) continue;
    if (!(e.userIdentityTokens ?? []).some((t) => t.tokenType === token)) continue;
    const rank = mi * 100 + pi;
    if (best === undefined || rank < best.rank) {
      best = {
        rank,
        chosen: {
          mode,
          policy,
          securityMode: e.securityMode,
          securityPolicy: policyUri()[policy] as SecurityPolicy,
          serverCertificate: e.serverCertificate,
        },
      };
    }
  }
  if (best === undefined) {
    const offered = endpoints.map(
      (e) =>
        `${modeName(e.securityMode) ?? e.securityMode}/${policyName(e.securityPolicyUri ?? "") ?? e.securityPolicyUri} (users: ${(
          e.userIdentityTokens ?? []
        )
          .map((t) => UserTokenType[t.tokenType])
          .join(", ")})`,
    );
    throw new MaaskitError(
      "metering.opcua.noSecureEndpoint",
      `${endpointUrl} offers no endpoint with mode ${modes.join(" or ")}, policy ${policies.join(" or ")} and user token ${UserTokenType[token]}; offered: ${offered.join("; ") || "nothing"}. To connect without security (records then carry flag insecureSource) set security: { mode: "None" } explicitly`,
      { details: { endpointUrl, modes, policies, userToken: UserTokenType[token], offered } },
    );
  }
  return best.chosen;
}

interface PinFile {
  [endpointUrl: string]: { thumbprint: string; pinnedAt: string };
}

/** Where `trust: "firstUse"` keeps its pins. */
export function pinFileOf(pkiDir: string): string {
  return join(pkiDir, "maaskit-pinned-servers.json");
}

function pinKey(endpointUrl: string): string {
  // scheme and host are case-insensitive; the path is not
  const m = /^(opc\.tcp:\/\/)([^/]+)(.*)$/i.exec(endpointUrl);
  return m ? `${m[1]!.toLowerCase()}${m[2]!.toLowerCase()}${m[3]}` : endpointUrl;
}

async function readPins(file: string): Promise<PinFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as PinFile;
  } catch (cause) {
    // never start trusting afresh because the pin file is damaged
    throw new MaaskitError(
      "metering.opcua.untrustedServer",
      `The pinned server certificates in ${file} cannot be read; fix or remove the file`,
      { details: { pinFile: file }, cause },
    );
  }
}

async function writePins(file: string, pins: PinFile): Promise<void> {
  writeFileAtomic(file, `${JSON.stringify(pins, null, 2)}\n`, 0o600);
}

/**
 * Decides whether the server certificate is acceptable for `endpointUrl`, by the trust list
 * of `certificateManager` (a manager created with `automaticallyAcceptUnknownCertificate:
 * false`) and, with `trust: "firstUse"`, the endpoint's pin. Throws
 * `metering.opcua.untrustedServer` or `metering.opcua.serverCertificateChanged`.
 */
export async function verifyServerCertificate(p: {
  endpointUrl: string;
  certificate: Buffer;
  certificateManager: OPCUACertificateManager;
  pkiDir: string;
  trust: "list" | "firstUse";
}): Promise<"list" | "pinned" | "pinnedNow"> {
  const { endpointUrl, certificate, certificateManager: cm, pkiDir, trust } = p;
  const thumbprint = certificateThumbprint(certificate);
  const trustedFolder = cm.trustedFolder;
  if (trust === "firstUse") {
    const file = pinFileOf(pkiDir);
    const pins = await readPins(file);
    const key = pinKey(endpointUrl);
    const pin = pins[key];
    if (pin !== undefined) {
      if (pin.thumbprint !== thumbprint) {
        throw new MaaskitError(
          "metering.opcua.serverCertificateChanged",
          `${endpointUrl} presented certificate ${thumbprint}, but ${pin.thumbprint} was pinned for it on ${pin.pinnedAt}: refusing a possible impostor. If the server's certificate was legitimately replaced, remove the entry for ${key} from ${file}`,
          {
            details: {
              endpointUrl,
              thumbprint,
              pinnedThumbprint: pin.thumbprint,
              pinnedAt: pin.pinnedAt,
              pinFile: file,
            },
          },
        );
      }
      // pinned: keep it in the trust list too, so node-opcua accepts it on reconnects
      if ((await cm.getTrustStatus(certificate)).name !== "Good")
        await cm.trustCertificate(certificate);
      return "pinned";
    }
    await cm.trustCertificate(certificate);
    pins[key] = { thumbprint, pinnedAt: new Date().toISOString() };
    await mkdir(pkiDir, { recursive: true });
    await writePins(file, pins);
    return "pinnedNow";
  }
  const status = await cm.checkCertificate(certificate);
  if (status.name === "Good") return "list";
  const untrusted = status.name === "BadCertificateUntrusted";
  throw new MaaskitError(
    "metering.opcua.untrustedServer",
    untrusted
      ? `${endpointUrl} presented certificate ${thumbprint}, which is not in the trust list: refusing the server. To trust it, put that certificate (node-opcua saved a copy in ${cm.rejectedFolder}) into ${trustedFolder}, or configure security: { trust: "firstUse" } explicitly`
      : `${endpointUrl} presented certificate ${thumbprint}, which is not acceptable (${status.name}): refusing the server`,
    {
      details: {
        endpointUrl,
        thumbprint,
        status: status.name,
        trustedFolder,
        rejectedFolder: cm.rejectedFolder,
      },
    },
  );
}

/** The node-opcua user identity of the session. */
export async function userIdentityOf(
  user: OpcUaUserIdentity | undefined,
): Promise<UserIdentityInfo> {
  const { UserTokenType } = loadNodeOpcuaClient();
  if (user === undefined || user.type === "anonymous") return { type: UserTokenType.Anonymous };
  if (user.type === "userName") {
    return { type: UserTokenType.UserName, userName: user.userName, password: user.password };
  }
  let certificateData: Buffer;
  let privateKey: string;
  try {
    const raw = await readFile(user.certificateFile);
    certificateData = raw.toString("utf8").includes("-----BEGIN")
      ? new X509Certificate(raw).raw
      : raw;
    privateKey = await readFile(user.privateKeyFile, "utf8");
  } catch (cause) {
    throw new MaaskitError(
      "metering.opcua.invalidConfig",
      `Cannot read the user certificate ${user.certificateFile} or its key ${user.privateKeyFile}`,
      {
        details: {
          problems: ["security.user certificateFile/privateKeyFile must be readable PEM files"],
        },
        cause,
      },
    );
  }
  return { type: UserTokenType.Certificate, certificateData, privateKey };
}

/**
 * Puts a server certificate (DER) into the trust list of a PKI folder — what an installer
 * or a vendor's provisioning does, so that `fromOpcUa` with that `pkiDir` accepts the server.
 */
export async function trustOpcUaServerCertificate(
  pkiDir: string,
  certificate: Buffer,
): Promise<string> {
  const folder = join(pkiDir, "trusted", "certs");
  await mkdir(folder, { recursive: true });
  const file = join(folder, `server_${certificateThumbprint(certificate)}.der`);
  await writeFile(file, certificate);
  return file;
}
