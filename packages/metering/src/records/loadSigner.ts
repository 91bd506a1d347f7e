import { readFile } from "node:fs/promises";
import type { Wallet } from "ethers";
import { MaaskitError } from "../errors.js";

/** Where {@link loadSigner} finds the private key: a file, or an environment variable. */
export type LoadSignerParameters =
  | { readonly keyFile: string; readonly env?: undefined }
  | { readonly env: string; readonly keyFile?: undefined };

/** Errors {@link loadSigner} throws. */
export type LoadSignerErrorType = MaaskitError<
  "metering.signer.missing" | "metering.signer.invalidKey"
>;

const KEY = /^(0x)?[0-9a-fA-F]{64}$/;

/**
 * Loads the gateway's signing key as an ethers `Wallet` from a key file (hex private key,
 * optional `0x`, surrounding whitespace ignored) or an environment variable. The key is
 * never echoed in errors.
 *
 * @example
 * ```ts
 * const signer = await loadSigner({ env: "MAASKIT_SIGNER_KEY" });
 * const signer2 = await loadSigner({ keyFile: "/etc/maaskit/signer.key" });
 * ```
 */
export async function loadSigner(params: LoadSignerParameters): Promise<Wallet> {
  let raw: string | undefined;
  let source: string;
  if (params.keyFile !== undefined) {
    source = `file ${params.keyFile}`;
    try {
      raw = await readFile(params.keyFile, "utf8");
    } catch (cause) {
      throw new MaaskitError("metering.signer.missing", `Cannot read the signer key ${source}`, {
        details: { keyFile: params.keyFile },
        cause,
      });
    }
  } else {
    source = `environment variable ${params.env}`;
    raw = process.env[params.env];
    if (raw === undefined || raw.trim() === "") {
      throw new MaaskitError("metering.signer.missing", `The ${source} is not set`, {
        details: { env: params.env },
      });
    }
  }
  const key = raw.trim();
  if (!KEY.test(key)) {
    throw new MaaskitError(
      "metering.signer.invalidKey",
      `The ${source} does not hold a 32-byte hex private key`,
      { details: { source } },
    );
  }
  // Loaded on use: `ethers/wallet` brings ethers' provider stack (JSON keystores, WebSocket),
  // which a consumer that only verifies records should not load by importing this package.
  const { Wallet } = await import("ethers/wallet");
  try {
    return new Wallet(key.startsWith("0x") ? key : `0x${key}`);
  } catch (cause) {
    throw new MaaskitError("metering.signer.invalidKey", `The ${source} holds an invalid key`, {
      details: { source },
      cause,
    });
  }
}
