import { MaaskitError } from "../errors.js";
import type { LogEntry } from "../log/signedLog.js";
import type { MeterRecord } from "../records/meterRecord.js";
import { type AasCoreModule, loadAasCore } from "./aasCore.js";
import { type AasBuilder, aasBuilder } from "./aasElements.js";
import { NAMEPLATE } from "./semanticIds.js";
import { serviceRequestSubmodel } from "./serviceRequests.js";
import { type AasPeriod, type AasSegmentSummary, timeSeriesSubmodel } from "./timeSeries.js";

/** Error codes of the AAS export. */
export type AasErrorCode = "metering.aas.invalidInput" | "metering.aas.notVerified";

/** The machine's Digital Nameplate (IDTA 02006-2-0): the properties the export writes. */
export interface AasNameplate {
  /** Globally unique identification of the product (a URI). */
  readonly uriOfTheProduct: string;
  readonly manufacturerName: string;
  readonly manufacturerProductDesignation: string;
  readonly serialNumber: string;
  readonly yearOfConstruction?: string;
}

/** Parameters of {@link exportAas}. */
export interface ExportAasParameters {
  /** The twin's identifier (an IRI or URN); the shell and submodel ids derive from it. */
  readonly id: string;
  /** The asset's global id (default: the nameplate's `uriOfTheProduct`). */
  readonly globalAssetId?: string;
  readonly nameplate: AasNameplate;
  /** The billed channel's signed meter records of one agreement, in seq order. */
  readonly records: readonly MeterRecord[];
  /** The billing periods (e.g. the invoices'), one Time Series segment each. */
  readonly periods?: readonly AasPeriod[];
  /** The machine's signed maintenance history (log entries). */
  readonly history?: readonly LogEntry[];
}

/** What {@link exportAas} wrote. */
export interface AasExport {
  /** The AAS 3.0 environment as JSON (aas-core3.0's `toJsonable`). */
  readonly environment: Record<string, unknown>;
  /** `environment` as text, two-space indented, with a final newline: the file's bytes. */
  readonly json: string;
  readonly segments: readonly AasSegmentSummary[];
}

/**
 * Writes an Asset Administration Shell (AAS 3.0) environment for a machine: its Digital
 * Nameplate (IDTA 02006), its metered usage as Time Series Data (IDTA 02008, one segment
 * per billing period, each record with register, delta, seq and the record's digest) and,
 * with a history, its maintenance as Service Request Notifications (IDTA 02010, each entry
 * with the signed log line's digest). Built with aas-core3.0 and verified with it: any
 * verification error throws `metering.aas.notVerified` (nothing half-valid is written).
 * Needs the optional peer `@aas-core-works/aas-core3.0-typescript`.
 *
 * @example const { json } = exportAas({ id: "urn:example:compressor-7", nameplate, records, periods })
 */
export function exportAas(params: ExportAasParameters): AasExport {
  checkInput(params);
  const core = loadAasCore();
  const b = aasBuilder(core);
  const t = b.types;
  const ids = {
    shell: `${params.id}/aas`,
    nameplate: `${params.id}/submodels/nameplate`,
    timeSeries: `${params.id}/submodels/time-series`,
    serviceRequests: `${params.id}/submodels/service-requests`,
  };
  const nameplate = nameplateSubmodel(b, ids.nameplate, params.nameplate);
  const { submodel: timeSeries, segments } = timeSeriesSubmodel(
    b,
    ids.timeSeries,
    params.records,
    params.periods ?? [],
  );
  const submodels = [nameplate, timeSeries];
  if (params.history !== undefined) {
    submodels.push(serviceRequestSubmodel(b, ids.serviceRequests, params.history));
  }
  const asset = new t.AssetInformation(t.AssetKind.Instance);
  asset.globalAssetId = params.globalAssetId ?? params.nameplate.uriOfTheProduct;
  const shell = new t.AssetAdministrationShell(ids.shell, asset);
  shell.idShort = idShortOf(params.records[0]?.machineId ?? "Machine");
  shell.submodels = submodels.map((s) => b.submodelRef(s.id));
  const env = new t.Environment([shell], submodels);
  const errors = aasErrors(core, env);
  if (errors.length > 0) {
    throw new MaaskitError<AasErrorCode>(
      "metering.aas.notVerified",
      `The AAS environment does not verify (${errors.length} error${errors.length === 1 ? "" : "s"})`,
      { details: { errors: errors.slice(0, 20) } },
    );
  }
  const environment = core.jsonization.toJsonable(env) as Record<string, unknown>;
  return { environment, json: `${JSON.stringify(environment, null, 2)}\n`, segments };
}

/**
 * Parses an AAS 3.0 environment (JSON) with aas-core3.0 and verifies it: the problems found
 * (deserialization or constraint violations, each `path: message`); empty = valid.
 *
 * @example verifyAasEnvironment(JSON.parse(text)) // []
 */
export function verifyAasEnvironment(json: unknown): string[] {
  const core = loadAasCore();
  const parsed = core.jsonization.environmentFromJsonable(json as never);
  if (parsed.error !== null || parsed.value === null) {
    return [
      `${String(parsed.error?.path ?? "")}: ${parsed.error?.message ?? "not an environment"}`,
    ];
  }
  return aasErrors(core, parsed.value);
}

function aasErrors(core: AasCoreModule, env: InstanceType<AasCoreModule["types"]["Environment"]>) {
  const out: string[] = [];
  for (const e of core.verification.verify(env)) out.push(`${String(e.path)}: ${e.message}`);
  return out;
}

function nameplateSubmodel(b: AasBuilder, id: string, n: AasNameplate) {
  return b.submodel(id, "Nameplate", NAMEPLATE.submodel, [
    b.property("URIOfTheProduct", NAMEPLATE.uriOfTheProduct, n.uriOfTheProduct),
    b.text("ManufacturerName", NAMEPLATE.manufacturerName, n.manufacturerName),
    b.text(
      "ManufacturerProductDesignation",
      NAMEPLATE.manufacturerProductDesignation,
      n.manufacturerProductDesignation,
    ),
    b.property("SerialNumber", NAMEPLATE.serialNumber, n.serialNumber),
    ...(n.yearOfConstruction === undefined
      ? []
      : [b.property("YearOfConstruction", NAMEPLATE.yearOfConstruction, n.yearOfConstruction)]),
  ]);
}

/** An idShort (letters, digits, `_`, starting with a letter) from a machine id. */
function idShortOf(machineId: string): string {
  const s = machineId.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[A-Za-z]/.test(s) ? s : `M_${s}`;
}

function checkInput(p: ExportAasParameters): void {
  const problems: string[] = [];
  if (typeof p.id !== "string" || p.id.length === 0) problems.push("id: must be a non-empty IRI");
  const n = p.nameplate as Partial<AasNameplate> | undefined;
  for (const key of [
    "uriOfTheProduct",
    "manufacturerName",
    "manufacturerProductDesignation",
    "serialNumber",
  ] as const) {
    if (typeof n?.[key] !== "string" || n[key].length === 0)
      problems.push(`nameplate.${key}: must be a non-empty string`);
  }
  const first = p.records[0];
  p.records.forEach((r, i) => {
    if (
      first !== undefined &&
      (r.agreementId !== first.agreementId ||
        r.channel !== first.channel ||
        r.quantity.unit !== first.quantity.unit)
    ) {
      problems.push(`records[${i}]: another agreement, channel or unit than records[0]`);
    }
    if (i > 0 && r.seq !== p.records[i - 1]!.seq + 1)
      problems.push(`records[${i}]: seq ${r.seq} does not follow ${p.records[i - 1]!.seq}`);
  });
  const periods = [...(p.periods ?? [])].sort((a, c) => a.start.getTime() - c.start.getTime());
  periods.forEach((period, i) => {
    if (!(period.start.getTime() < period.end.getTime()))
      problems.push(`periods[${i}]: must end after it starts`);
    const next = periods[i + 1];
    if (next !== undefined && next.start.getTime() < period.end.getTime())
      problems.push(`periods: ${period.start.toISOString()} overlaps the next period`);
  });
  if (problems.length > 0) {
    throw new MaaskitError<AasErrorCode>(
      "metering.aas.invalidInput",
      `Cannot export the AAS: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
      { details: { problems } },
    );
  }
}
