// Integration: OPC UA security against real node-opcua servers on 127.0.0.1 with their own
// certificates — the strongest mode by default, a strict trust list, impostors on the same
// port refused, trust on first use with pinning, None only by opt-in (and then marked in the
// records), user name / password identity.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { Observable } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildMeterRecord,
  counterDelta,
  genesisChainState,
  isMaaskitError,
  type MeterEvent,
  type MeterWindow,
  type Reading,
  tumblingWindow,
  ZERO_ADDRESS,
} from "../src/index.js";
import {
  type FromOpcUaOptions,
  fromOpcUa,
  type OpcUaConnectionSecurity,
  opcUaSourceIsInsecure,
  pinFileOf,
} from "../src/opcua.js";
import { meterRecordMessage } from "../src/records/meterRecordTypedData.js";
import { type CompressorServer, startCompressorServer } from "../src/simulator.js";

let dir: string;
let real: CompressorServer;
const started: CompressorServer[] = [];
const figures: Record<string, number | string> = {};

/** A logger that keeps what it was told. */
function memoryLogger() {
  const warnings: { message: string; details?: Record<string, unknown> }[] = [];
  const infos: { message: string; details?: Record<string, unknown> }[] = [];
  return {
    warnings,
    infos,
    logger: {
      warn: (message: string, details?: Record<string, unknown>) =>
        warnings.push({ message, ...(details ? { details } : {}) }),
      info: (message: string, details?: Record<string, unknown>) =>
        infos.push({ message, ...(details ? { details } : {}) }),
    },
    established: () => infos.at(-1)?.details as unknown as OpcUaConnectionSecurity | undefined,
  };
}

function record<T = MeterEvent>(source: Observable<T>) {
  const events: T[] = [];
  let error: unknown;
  const sub = source.subscribe({
    next: (e) => events.push(e),
    error: (e) => {
      error = e;
    },
  });
  const until = async (what: string, ok: (events: T[]) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!ok(events)) {
      if (error !== undefined) throw error;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /** Waits for the stream to fail and returns the error. */
  const failure = async (): Promise<unknown> => {
    await until("an error", () => false).catch(() => undefined);
    return error;
  };
  return { events, sub, until, failure, error: () => error };
}

function volumeSource(
  s: { endpointUrl: string; nodeIds: CompressorServer["nodeIds"] },
  extra: Partial<FromOpcUaOptions>,
): Observable<MeterEvent> {
  return fromOpcUa({
    endpointUrl: s.endpointUrl,
    machineId: "compressor-1",
    nodes: [{ nodeId: s.nodeIds.volume, channel: "volume", unit: "MTQ", kind: "register" }],
    samplingInterval: 100,
    connect: { maxRetry: 0 },
    ...extra,
  });
}

const hasReading = (ev: MeterEvent[]) => ev.some((e) => e.kind === "reading");

async function settleSessions(s: CompressorServer): Promise<void> {
  for (let i = 0; s.sessions > 0 && i < 250; i++) await new Promise((r) => setTimeout(r, 20));
}

async function start(
  o: Parameters<typeof startCompressorServer>[0] & { name: string },
): Promise<CompressorServer> {
  const t0 = performance.now();
  const { name, ...rest } = o;
  const s = await startCompressorServer({
    host: "127.0.0.1",
    accelerate: 120,
    startTime: "2025-01-06T06:00:00Z",
    seed: 3,
    pkiDir: join(dir, `${name}-server-pki`),
    ...rest,
  });
  figures[`${name}StartMs`] = Math.round(performance.now() - t0);
  started.push(s);
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "maaskit-opcua-security-"));
  // the vendor provisions the gateway: the server's certificate goes into its trust list
  real = await start({
    name: "real",
    trustedBy: [join(dir, "gateway-pki")],
    registerModulus: "100000",
    initialRegister: "0",
  });
});

afterAll(async () => {
  for (const s of started) await s.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  console.info("opcua security figures", figures);
});

describe("fromOpcUa security", () => {
  it("default: connects with SignAndEncrypt and the strongest policy to a server in the trust list", async () => {
    const log = memoryLogger();
    const t0 = performance.now();
    const rec = record(
      volumeSource(real, { pkiDir: join(dir, "gateway-pki"), logger: log.logger }),
    );
    try {
      await rec.until("a reading", hasReading, 30_000);
      figures.firstSecureReadingMs = Math.round(performance.now() - t0);
      // what the client says it established …
      expect(log.established()).toMatchObject({
        mode: "SignAndEncrypt",
        policy: "Aes256_Sha256_RsaPss",
        trust: "list",
        serverThumbprint: real.thumbprint,
        user: "anonymous",
      });
      // … and what the server sees on the session's channel
      expect(real.sessionSecurity()).toEqual([
        { mode: "SignAndEncrypt", policy: "Aes256_Sha256_RsaPss", user: "anonymous" },
      ]);
      expect(log.warnings).toEqual([]);
    } finally {
      rec.sub.unsubscribe();
    }
    await settleSessions(real);
  });

  it("error: a server certificate that is not in the trust list is refused with metering.opcua.untrustedServer", async () => {
    const pki = join(dir, "unprovisioned-pki");
    const rec = record(volumeSource(real, { pkiDir: pki }));
    const err = await rec.failure();
    expect(isMaaskitError(err, "metering.opcua.untrustedServer")).toBe(true);
    const e = err as { message: string; details: Record<string, string> };
    expect(e.details.thumbprint).toBe(real.thumbprint);
    expect(e.details.trustedFolder).toBe(join(pki, "trusted", "certs"));
    expect(e.message).toContain(real.thumbprint);
    expect(e.message).toContain(join(pki, "trusted", "certs"));
    expect(rec.events).toEqual([]);
    expect(real.sessions).toBe(0);
  });

  it("behavior: trust on first use pins the certificate to the endpoint and accepts it again", async () => {
    const pki = join(dir, "tofu-pki");
    for (const expected of ["pinnedNow", "pinned"]) {
      const log = memoryLogger();
      const rec = record(
        volumeSource(real, { pkiDir: pki, security: { trust: "firstUse" }, logger: log.logger }),
      );
      try {
        await rec.until("a reading", hasReading, 30_000);
      } finally {
        rec.sub.unsubscribe();
      }
      expect(log.established()?.trust).toBe(expected);
      expect(log.warnings.map((w) => w.details?.code)).toEqual(
        expected === "pinnedNow" ? ["metering.opcua.serverPinned"] : [],
      );
    }
    const pins = JSON.parse(await readFile(pinFileOf(pki), "utf8")) as Record<
      string,
      { thumbprint: string }
    >;
    expect(pins[real.endpointUrl]?.thumbprint).toBe(real.thumbprint);
    await settleSessions(real);
  });

  it("error: an impostor with another certificate on the same port is refused (trust list and pin)", async () => {
    // a live stream on the real server sees it go away and the impostor come up
    const live = record(volumeSource(real, { pkiDir: join(dir, "gateway-pki"), connect: {} }));
    await live.until("a reading", hasReading, 30_000);
    const { endpointUrl, port } = real;
    await real.stop();
    // the impostor serves the same variables, its register far from the real one's
    const impostor = await start({
      name: "impostor",
      port,
      registerModulus: "100000",
      initialRegister: "50000",
    });
    expect(impostor.endpointUrl).toBe(endpointUrl);
    expect(impostor.thumbprint).not.toBe(real.thumbprint);

    const strict = record(volumeSource(impostor, { pkiDir: join(dir, "gateway-pki") }));
    const err = await strict.failure();
    expect(isMaaskitError(err, "metering.opcua.untrustedServer")).toBe(true);
    expect((err as { details: { thumbprint: string } }).details.thumbprint).toBe(
      impostor.thumbprint,
    );
    expect(strict.events).toEqual([]);

    const tofu = record(
      volumeSource(impostor, { pkiDir: join(dir, "tofu-pki"), security: { trust: "firstUse" } }),
    );
    const changed = await tofu.failure();
    expect(isMaaskitError(changed, "metering.opcua.serverCertificateChanged")).toBe(true);
    expect(changed as { details: Record<string, string> }).toMatchObject({
      details: { thumbprint: impostor.thumbprint, pinnedThumbprint: real.thumbprint },
    });
    expect(tofu.events).toEqual([]);

    // the live stream, reconnecting, meets the impostor: it ends with the clear error and
    // never delivers a reading from it; the impostor never got a session
    const lost = await live.failure();
    live.sub.unsubscribe();
    expect(isMaaskitError(lost, "metering.opcua.untrustedServer")).toBe(true);
    expect((lost as { details: { thumbprint: string } }).details.thumbprint).toBe(
      impostor.thumbprint,
    );
    const fromImpostor = live.events.filter(
      (e): e is Reading =>
        e.kind === "reading" && typeof e.value === "object" && e.value.gte("50000"),
    );
    expect(live.events.some((e) => e.kind === "reading")).toBe(true);
    expect(fromImpostor).toEqual([]);
    expect(impostor.sessions).toBe(0);
    await impostor.stop();
  });

  it("error: a server without security is refused unless None is opted into; then records carry insecureSource", async () => {
    const plain = await start({
      name: "plain",
      security: { modes: ["None"], policies: ["None"] },
    });
    const refused = record(volumeSource(plain, { pkiDir: join(dir, "gateway-pki") }));
    const err = await refused.failure();
    expect(isMaaskitError(err, "metering.opcua.noSecureEndpoint")).toBe(true);
    expect((err as Error).message).toContain('security: { mode: "None" }');
    expect(refused.events).toEqual([]);

    const security = { mode: "None" } as const;
    const log = memoryLogger();
    const windows: MeterWindow[] = [];
    const rec = record(
      volumeSource(plain, { security, logger: log.logger }).pipe(
        counterDelta({ channel: "volume", unit: "MTQ", basis: "ISO1217-FAD" }),
        tumblingWindow({ size: { minutes: 1 } }),
      ),
    );
    try {
      await rec.until("a closed window with usage", (ev) =>
        ev.some((e) => e.kind === "window" && (e as MeterWindow).usage.length > 0),
      );
      expect(plain.sessionSecurity()).toEqual([
        { mode: "None", policy: "None", user: "anonymous" },
      ]);
    } finally {
      rec.sub.unsubscribe();
    }
    for (const e of rec.events) if (e.kind === "window") windows.push(e as MeterWindow);
    expect(log.warnings.map((w) => w.details?.code)).toEqual(["metering.opcua.insecure"]);
    expect(log.established()).toMatchObject({ mode: "None", policy: "None", trust: "none" });

    // the gateway derives the recorder option from the same security options
    const w = windows.find((x) => x.usage.length > 0)!;
    const unsigned = buildMeterRecord(w, {
      binding: { agreementId: "agr-1", chainId: 0, verifyingContract: ZERO_ADDRESS },
      chain: genesisChainState(),
      clock: "informative",
      channel: "volume",
      insecureSource: opcUaSourceIsInsecure(security),
    });
    expect(unsigned.flags.insecureSource).toBe(true);
    expect(meterRecordMessage(unsigned, () => `0x${"00".repeat(32)}`).flags & (1 << 8)).toBe(
      1 << 8,
    );
    await plain.stop();
  });

  it("behavior: user name / password and X.509 user identities are accepted by a server that requires a user", async () => {
    const pki = join(dir, "users-pki");
    const locked = await start({
      name: "locked",
      security: {
        modes: ["SignAndEncrypt"],
        policies: ["Basic256Sha256", "Aes256_Sha256_RsaPss"],
        users: [{ userName: "gateway", password: "s3cret" }],
      },
      trustedBy: [pki],
    });
    // anonymous: the server offers no anonymous login at all
    const anonymous = record(volumeSource(locked, { pkiDir: pki }));
    expect(isMaaskitError(await anonymous.failure(), "metering.opcua.noSecureEndpoint")).toBe(true);
    // a wrong password: the session is refused
    const wrong = record(
      volumeSource(locked, {
        pkiDir: pki,
        security: { user: { type: "userName", userName: "gateway", password: "guess" } },
      }),
    );
    expect(isMaaskitError(await wrong.failure(), "metering.opcua.sessionRejected")).toBe(true);
    expect(wrong.events).toEqual([]);

    const log = memoryLogger();
    const rec = record(
      volumeSource(locked, {
        pkiDir: pki,
        security: { user: { type: "userName", userName: "gateway", password: "s3cret" } },
        logger: log.logger,
      }),
    );
    try {
      await rec.until("a reading", hasReading, 30_000);
      expect(locked.sessionSecurity()).toEqual([
        { mode: "SignAndEncrypt", policy: "Aes256_Sha256_RsaPss", user: "userName:gateway" },
      ]);
      expect(log.established()).toMatchObject({ mode: "SignAndEncrypt", user: "userName" });
    } finally {
      rec.sub.unsubscribe();
    }
    await settleSessions(locked);

    // an X.509 user certificate (PEM files, as an operator would deploy them)
    const userPki = join(dir, "user-pki");
    const ucm = new OPCUACertificateManager({
      rootFolder: userPki,
      automaticallyAcceptUnknownCertificate: false,
    });
    await ucm.initialize();
    const certificateFile = join(userPki, "own", "certs", "gateway-user.pem");
    await ucm.createSelfSignedCertificate({
      outputFile: certificateFile,
      subject: "/CN=gateway-user/O=maaskit",
      applicationUri: "urn:maaskit:gateway-user",
      dns: [],
      startDate: new Date(Date.now() - 86_400_000),
      validity: 30,
    });
    const x509 = record(
      volumeSource(locked, {
        pkiDir: pki,
        security: {
          user: { type: "certificate", certificateFile, privateKeyFile: ucm.privateKey },
        },
      }),
    );
    try {
      await x509.until("a reading", hasReading, 30_000);
      expect(locked.sessionSecurity()).toEqual([
        { mode: "SignAndEncrypt", policy: "Aes256_Sha256_RsaPss", user: "certificate" },
      ]);
    } finally {
      x509.sub.unsubscribe();
    }
    await ucm.dispose();
    await locked.stop();
  });
});
