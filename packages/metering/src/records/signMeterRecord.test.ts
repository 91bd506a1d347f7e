import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AbstractSigner,
  type Provider,
  type TransactionRequest,
  type TypedDataDomain,
  type TypedDataField,
  verifyTypedData,
  Wallet,
} from "ethers";
import { describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { meterRecordDigest } from "./encodeMeterRecord.js";
import { loadSigner } from "./loadSigner.js";
import { genesisChainState } from "./meterRecordChain.js";
import { METER_RECORD_TYPES, meterRecordDomain } from "./meterRecordTypedData.js";
import { sampleWindow, TEST_BINDING, TEST_KEY } from "./sampleMeterRecords.js";
import { signMeterRecord } from "./signMeterRecord.js";

const unsigned = buildMeterRecord(sampleWindow(0), {
  binding: TEST_BINDING,
  chain: genesisChainState(),
  clock: "synchronised",
  channel: "air",
});

/** A signer that is not a Wallet: it only offers signTypedData (like a KMS or hardware signer). */
class RemoteSigner extends AbstractSigner {
  constructor(
    private readonly inner: Wallet,
    private readonly tamper = false,
  ) {
    super(null);
  }
  async getAddress(): Promise<string> {
    return this.inner.address;
  }
  connect(_provider: Provider | null): RemoteSigner {
    return this;
  }
  signTransaction(_tx: TransactionRequest): Promise<string> {
    throw new Error("not supported");
  }
  signMessage(_m: string | Uint8Array): Promise<string> {
    throw new Error("not supported");
  }
  async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.inner.signTypedData(
      domain,
      types,
      this.tamper ? { ...value, quarantined: 99 } : value,
    );
  }
}

describe("signMeterRecord", () => {
  test("default: a Wallet signature is standard EIP-712 and deterministic", async () => {
    const wallet = new Wallet(TEST_KEY);
    const a = await signMeterRecord(unsigned, { signer: wallet });
    const b = await signMeterRecord(unsigned, { signer: new Wallet(TEST_KEY) });
    expect(a.signature).toBe(b.signature);
    expect(a.signer).toBe(wallet.address);
    expect(a.signer).toBe("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    // ethers' own typed-data verification agrees (independent of our digest code).
    const { encodeMeterRecord } = await import("./encodeMeterRecord.js");
    const { message } = encodeMeterRecord(a);
    expect(
      verifyTypedData(meterRecordDomain(a), METER_RECORD_TYPES as never, message, a.signature),
    ).toBe(wallet.address);
    expect(meterRecordDigest(a)).toBe(encodeMeterRecord(unsigned).digest);
  });

  test("behavior: any ethers Signer works and gives the same signature as the Wallet", async () => {
    const wallet = new Wallet(TEST_KEY);
    const viaWallet = await signMeterRecord(unsigned, { signer: wallet });
    const viaRemote = await signMeterRecord(unsigned, { signer: new RemoteSigner(wallet) });
    expect(viaRemote).toEqual(viaWallet);
  });

  test("error: a signer that signs something else is caught", async () => {
    await expect(
      signMeterRecord(unsigned, { signer: new RemoteSigner(new Wallet(TEST_KEY), true) }),
    ).rejects.toMatchObject({ code: "metering.record.badSignature" });
  });

  test("error: signing for another agreement than the caller expects", async () => {
    await expect(
      signMeterRecord(unsigned, {
        signer: new Wallet(TEST_KEY),
        domain: { ...TEST_BINDING, agreementId: "x" },
      }),
    ).rejects.toMatchObject({ code: "metering.record.wrongAgreement" });
    await expect(
      signMeterRecord(unsigned, { signer: new Wallet(TEST_KEY), domain: TEST_BINDING }),
    ).resolves.toMatchObject({ seq: 0 });
  });
});

describe("loadSigner", () => {
  test("args: keyFile (with or without 0x, whitespace ignored) and env", async () => {
    const dir = await mkdtemp(join(tmpdir(), "maaskit-signer-"));
    try {
      const file = join(dir, "signer.key");
      await writeFile(file, `  ${TEST_KEY.slice(2)}\n`);
      expect((await loadSigner({ keyFile: file })).address).toBe(new Wallet(TEST_KEY).address);
      process.env.MAASKIT_TEST_SIGNER_KEY = TEST_KEY;
      expect((await loadSigner({ env: "MAASKIT_TEST_SIGNER_KEY" })).address).toBe(
        new Wallet(TEST_KEY).address,
      );
    } finally {
      delete process.env.MAASKIT_TEST_SIGNER_KEY;
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("error: missing and invalid keys, without echoing the key", async () => {
    const missing = await loadSigner({ env: "MAASKIT_TEST_NO_SUCH_VAR" }).catch((e: unknown) => e);
    expect(isMaaskitError(missing, "metering.signer.missing")).toBe(true);
    const noFile = await loadSigner({ keyFile: "/nonexistent/maaskit.key" }).catch(
      (e: unknown) => e,
    );
    expect(isMaaskitError(noFile, "metering.signer.missing")).toBe(true);
    process.env.MAASKIT_TEST_SIGNER_KEY = "0xnotakey-secret";
    try {
      const bad = await loadSigner({ env: "MAASKIT_TEST_SIGNER_KEY" }).catch((e: unknown) => e);
      expect(isMaaskitError(bad, "metering.signer.invalidKey")).toBe(true);
      expect((bad as Error).message).not.toContain("secret");
    } finally {
      delete process.env.MAASKIT_TEST_SIGNER_KEY;
    }
  });
});
