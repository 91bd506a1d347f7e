import { readFile } from "node:fs/promises";
import {
  checkWarranty,
  type MaintenanceHistoryReading,
  type RequiredInterval,
  readMaintenanceHistory,
  type WarrantyReport,
} from "@maaskit/maintenance";
import {
  type CounterCapacity,
  compressorStates,
  counterDelta,
  isMaaskitError,
  MaaskitError,
  type MeterEvent,
  type MeterRecordBinding,
  type MeterWindow,
  machineState,
  type OeeCalendar,
  type OeeOutput,
  type OeeResult,
  oee,
  type Quantity,
  type QuarantineEvent,
  quantity,
  type RecordFlags,
  type RollUpWindowsOptions,
  rollUpWindows,
  type StateMapping,
  tumblingWindow,
  type UnitCode,
  type VolumeBasis,
  type WindowRollUp,
  type WindowSize,
} from "@maaskit/metering";
import {
  type Agreement,
  type AgreementRecordsVerification,
  type Invoice,
  type LedgerBackend,
  type Tariff,
  verifyAgreementRecords,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import {
  type Connectable,
  connectable,
  filter,
  map,
  type Observable,
  Subject,
  type Subscription,
} from "rxjs";

/** OEE of one shift or production day (`rollUpWindows` of `@maaskit/metering`). */
export type OeeRollUp = WindowRollUp;
/** Shifts of a plant: zone, shift length and the production day's start (`rollUpWindows`). */
export type ShiftPlan = RollUpWindowsOptions;

/** Options of {@link createMesPlugin}. */
export interface CreateMesPluginParameters {
  /**
   * The machine's readings (any source: `fromOpcUa`, `fromReadings`, `fromSimulatedCompressor`).
   * Subscribed once, by `start()`, and shared by every stream of the plugin.
   */
  readonly readings$: Observable<MeterEvent>;
  /** The pay-per-use agreement the machine is metered under (its machine, signers, terms). */
  readonly agreement: Agreement;
  /** The tariff usage is billed with. Default: the agreement's. Gives the metered unit and basis. */
  readonly tariff?: Tariff;
  /** The ledger invoices are read from (embedded, EVM, Cactus: any `LedgerBackend`). */
  readonly ledger: LedgerBackend;
  /**
   * Keys allowed to sign meter records. Default: the agreement's signers, each only inside its
   * validity range (checked at the record's `periodEnd`, as ledgers do).
   */
  readonly recordSigners?: readonly string[];
  /** Keys allowed to sign maintenance history entries. Default: any valid signature. */
  readonly historySigners?: readonly string[];
  /** Channels and the state table of the machine. */
  readonly channels?: {
    /** Totalizer register of the billed quantity. Default `"volume"`. */
    readonly volume?: string;
    /** Operating state. Default `"state"`. */
    readonly state?: string;
    /** Vendor state → ISO 22400 category. Default `compressorStates` (OPC 40250). */
    readonly stateMapping?: StateMapping;
    /** Modulus the register rolls over at, if it does. */
    readonly rollover?: Decimal.Value;
    /**
     * Most the register can count per time (the machine's rated delivery). Needed to tell a
     * rollover from a reset: without it a drop of the register is never billed as a wrap.
     */
    readonly capacity?: CounterCapacity;
  };
  /** Usage and OEE window (fixed length dividing a shift). Default `{ minutes: 15 }`. */
  readonly window?: WindowSize;
  /**
   * Shifts the OEE is rolled up to, in local time (DST-correct). Default three 8-hour shifts
   * from 06:00 UTC (`{ timeZone: "UTC", shiftHours: 8, dayStartMinutes: 360 }`).
   */
  readonly shifts?: ShiftPlan;
  /** OEE inputs: the ideal time per metered unit (ms, ISO 22400 PRI) and the planned stops. */
  readonly oee: {
    readonly idealCycleTimeMs: Decimal.Value;
    readonly calendar?: OeeCalendar;
    readonly microStopThresholdMs?: number;
  };
}

/** Usage of the billed channel in one window, as `usage$` emits it. */
export interface UsageWindow {
  readonly machineId: string;
  readonly start: Date;
  readonly end: Date;
  /** Exact metered quantity (Decimal) in the tariff's unit and basis; 0 when nothing was used. */
  readonly quantity: Quantity;
  /** Raw register at the window's ends, when the usage came from the register. */
  readonly register?: { readonly start: Decimal; readonly end: Decimal };
  readonly flags: RecordFlags;
  /** Inputs set aside in the window (bad quality, non-monotonic, unknown state…). */
  readonly quarantined: number;
  /** Gaps (connection lost, counter reset) that overlapped the window. */
  readonly gaps: number;
}

/** What `verifyRecords` found (`verifyAgreementRecords` of `@maaskit/settlement`). */
export type RecordsVerification = AgreementRecordsVerification;

/** What `maintenanceHistory` found (`readMaintenanceHistory` of `@maaskit/maintenance`). */
export interface HistoryVerification extends MaintenanceHistoryReading {
  /** The warranty check, when asked for and the history verified. */
  readonly warranty?: WarrantyReport;
}

/** The warranty terms a history is checked against (see `checkWarranty`). */
export interface WarrantyTerms {
  readonly required: readonly RequiredInterval[];
  readonly commissioned: { readonly at: Date; readonly runHours: Decimal.Value };
  readonly now: { readonly at: Date; readonly runHours: Decimal.Value };
}

/** A maaskit consumer as an MES hosts it. */
export interface MesPlugin {
  /** Per-window results with ISO 22400 OEE attached (what records are built from). Hot, after `start()`. */
  readonly windows$: Observable<MeterWindow<OeeResult>>;
  /** OEE per shift and per production day, rolled up from the windows' time elements. */
  readonly oee$: Observable<OeeRollUp>;
  /** Billed usage (m³) per window. */
  readonly usage$: Observable<UsageWindow>;
  /** Inputs the metering set aside, with the reason (never dropped silently). */
  readonly quarantine$: Observable<QuarantineEvent>;
  /** Subscribes to the readings once and feeds every stream above; idempotent. */
  start(): Subscription;
  /** The agreement's invoices on the ledger, in settlement order. */
  invoices(): Promise<readonly Invoice[]>;
  /** Reads a maintenance history export (JSON Lines) and verifies it; optionally checks the warranty. */
  maintenanceHistory(file: string, warranty?: WarrantyTerms): Promise<HistoryVerification>;
  /** Verifies signed meter records (JSON Lines) against the agreement, its keys and its chain. */
  verifyRecords(jsonl: string): Promise<RecordsVerification>;
}

/** Error codes of {@link createMesPlugin}. */
export type MesPluginErrorCode = "mes.plugin.invalidOptions";

/**
 * Creates the plugin: one metering pipeline over the machine's readings (state → ISO 22400
 * spans, register → exact usage, fixed windows, OEE per window), rolled up per shift and
 * day, plus read-only access to the agreement's invoices, a machine's maintenance history
 * and verification of records the MES is handed. It imports only the packages' main entry
 * points: no OPC UA stack, no EVM provider, no Cactus.
 *
 * @param params readings, agreement, ledger, keys and OEE inputs. Invalid options throw
 *   `mes.plugin.invalidOptions` listing every problem.
 * @example
 * ```ts
 * const plugin = createMesPlugin({ readings$, agreement, ledger, oee: { idealCycleTimeMs: 8000 } });
 * plugin.oee$.subscribe((s) => mes.report(s.kind, s.start, s.result.availability));
 * plugin.usage$.subscribe((u) => mes.book(u.end, u.quantity.value.toFixed()));
 * plugin.start();
 * ```
 */
export function createMesPlugin(params: CreateMesPluginParameters): MesPlugin {
  const { agreement, ledger } = params;
  const tariff = params.tariff ?? agreement.tariff;
  const unit: UnitCode = tariff.metered.unit;
  const basis: VolumeBasis | undefined = tariff.metered.basis;
  const volume = params.channels?.volume ?? "volume";
  const stateChannel = params.channels?.state ?? "state";
  const windowSize = params.window ?? { minutes: 15 };

  const problems: string[] = [];
  const shifts: ShiftPlan = params.shifts ?? {};
  let rollUp: ReturnType<typeof rollUpWindows> | undefined;
  try {
    rollUp = rollUpWindows(shifts);
  } catch (err) {
    if (!isMaaskitError(err, "metering.rollUp.invalidOptions")) throw err;
    problems.push(...(err.details.problems as string[]).map((p) => `shifts.${p}`));
  }
  const windowMs = fixedLength(windowSize);
  if (windowMs === undefined) {
    problems.push(
      "window must be a fixed length in seconds, minutes or hours (e.g. { minutes: 15 })",
    );
  } else if (
    rollUp !== undefined &&
    (((shifts.shiftHours ?? 8) * 3_600_000) % windowMs !== 0 ||
      ((shifts.dayStartMinutes ?? 360) * 60_000) % windowMs !== 0)
  ) {
    problems.push("window length must divide the shift length and the shift offset");
  }
  if (params.readings$ === undefined || typeof params.readings$.subscribe !== "function") {
    problems.push("readings$ must be an Observable of metering events");
  }
  if (problems.length > 0 || rollUp === undefined) {
    throw new MaaskitError<MesPluginErrorCode>(
      "mes.plugin.invalidOptions",
      `Invalid MES plugin options: ${problems.join("; ")}`,
      { details: { problems } },
    );
  }

  // One subscription to the machine, shared by every stream; events before start() are not lost
  // because nothing flows until the host has subscribed and called start().
  const pipeline: Connectable<OeeOutput> = connectable(
    params.readings$.pipe(
      machineState({
        channel: stateChannel,
        mapping: params.channels?.stateMapping ?? compressorStates,
      }),
      counterDelta({
        channel: volume,
        unit,
        ...(basis === undefined ? {} : { basis }),
        ...(params.channels?.rollover === undefined ? {} : { rollover: params.channels.rollover }),
        ...(params.channels?.capacity === undefined ? {} : { capacity: params.channels.capacity }),
      }),
      tumblingWindow({ size: windowSize, timeZone: shifts.timeZone ?? "UTC" }),
      oee({
        idealCycleTimeMs: params.oee.idealCycleTimeMs,
        ...(params.oee.calendar === undefined ? {} : { calendar: params.oee.calendar }),
        ...(params.oee.microStopThresholdMs === undefined
          ? {}
          : { microStopThresholdMs: params.oee.microStopThresholdMs }),
        // The billed volume is the "produced quantity"; compressed air has no scrap.
        counts: { produced: volume, good: volume, unit },
        stateChannel,
      }),
    ),
    { connector: () => new Subject<OeeOutput>(), resetOnDisconnect: false },
  );
  let connection: Subscription | undefined;

  const windows$ = pipeline.pipe(filter((e): e is MeterWindow<OeeResult> => e.kind === "window"));
  const usage$ = windows$.pipe(map((w) => usageOf(w, volume, unit, basis)));
  const oee$ = windows$.pipe(rollUp);
  const quarantine$ = pipeline.pipe(filter((e): e is QuarantineEvent => e.kind === "quarantine"));

  let binding: Promise<MeterRecordBinding> | undefined;
  const bindingOf = (): Promise<MeterRecordBinding> => {
    binding ??= ledger.getAgreement(agreement.agreementId).then(
      (s) => ({
        agreementId: agreement.agreementId,
        chainId: s.recordDomain.chainId,
        verifyingContract: s.recordDomain.verifyingContract,
      }),
      (err: unknown) => {
        binding = undefined; // an unavailable ledger must not be remembered
        throw err;
      },
    );
    return binding;
  };

  return {
    windows$,
    oee$,
    usage$,
    quarantine$,
    start() {
      connection ??= pipeline.connect();
      return connection;
    },
    invoices: () => ledger.getInvoices(agreement.agreementId),

    async verifyRecords(jsonl) {
      return verifyAgreementRecords(jsonl, {
        agreement,
        binding: await bindingOf(),
        ...(params.recordSigners === undefined ? {} : { signers: params.recordSigners }),
      });
    },

    async maintenanceHistory(file, warranty) {
      const history = readMaintenanceHistory(await readFile(file, "utf8"), {
        machineId: agreement.machineId,
        ...(params.historySigners === undefined ? {} : { signers: params.historySigners }),
      });
      return {
        ...history,
        ...(history.valid && warranty !== undefined
          ? {
              warranty: checkWarranty(history.entries, warranty.required, {
                commissioned: warranty.commissioned,
                now: warranty.now,
              }),
            }
          : {}),
      };
    },
  };
}

function usageOf(
  w: MeterWindow,
  channel: string,
  unit: UnitCode,
  basis: VolumeBasis | undefined,
): UsageWindow {
  const u = w.usage.find((x) => x.channel === channel);
  const gaps = w.gaps.length;
  const common = {
    machineId: w.machineId,
    start: w.start,
    end: w.end,
    quarantined: w.quarantined,
    gaps,
  };
  if (u === undefined) {
    return { ...common, quantity: quantity(0, unit, basis), flags: gaps > 0 ? { gap: true } : {} };
  }
  return {
    ...common,
    quantity: u.quantity,
    ...(u.register === undefined ? {} : { register: u.register }),
    flags: u.flags,
  };
}

/** Length in ms of a fixed-length window size, or undefined for calendar sizes. */
function fixedLength(size: WindowSize): number | undefined {
  const s = size as { seconds?: number; minutes?: number; hours?: number };
  const ms =
    s.seconds !== undefined
      ? s.seconds * 1000
      : s.minutes !== undefined
        ? s.minutes * 60_000
        : s.hours !== undefined
          ? s.hours * 3_600_000
          : undefined;
  return ms !== undefined && Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}
