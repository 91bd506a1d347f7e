import { compressorStateCodes, compressorStates, type StateMapping } from "@maaskit/metering";
import { Decimal } from "decimal.js";

/** A rate: so much of a unit per second, minute or hour. */
export interface ProfileRate {
  /** Decimal string, in the billed register's unit per `per`. */
  readonly value: string;
  readonly per: "s" | "min" | "h";
}

/** One channel the machine exposes, and how the gateway reads it. */
export interface ProfileChannel {
  /** register: cumulative totalizer; rate: a flow; state: operating state; value: anything else. */
  readonly kind: "register" | "rate" | "state" | "value";
  /** OPC UA NodeId (`ns=1;s=…`) of the variable. */
  readonly nodeId: string;
  /** UNECE unit code (registers and rates need one). */
  readonly unit?: string;
  /** Register modulus: it wraps to 0 here (decimal string). */
  readonly rollover?: string;
  /** Registers: the most the register can count per time (passed to `counterDelta` as `capacity`). */
  readonly capacity?: ProfileRate;
  /** Registers: a reading channel whose change means the register was reset or replaced. */
  readonly resetCounterChannel?: string;
}

/** Which channels feed which maintenance trigger (no trigger silently depends on a channel name). */
export interface ProfileMaintenance {
  readonly filter?: {
    readonly channel: string;
    readonly above: string;
    readonly clearAt: string;
    readonly minDurationMs: number;
  };
  readonly service?: {
    readonly channel: string;
    readonly runHours: string;
    readonly months: number;
  };
}

/**
 * What a machine is: its channels, which register is billed, the ideal rate OEE performance
 * is measured against, how its state codes map to ISO 22400 time categories, and what feeds
 * maintenance.
 */
export interface MachineProfile {
  readonly name: string;
  readonly channels: Readonly<Record<string, ProfileChannel>>;
  /** The billed register channel. */
  readonly billed: string;
  /** The operating-state channel (omit: no OEE availability). */
  readonly state?: string;
  /** State code → state name (e.g. the OPC 40250 CompressorOperatingStateEnum). */
  readonly stateNames?: Readonly<Record<string, string>>;
  /** State name → ISO 22400 category. */
  readonly stateMapping?: StateMapping;
  /**
   * The ideal output rate (nameplate), in the billed unit per time: OEE performance is
   * measured against it (ideal cycle time = 1 / rate). Omit: no OEE on records.
   */
  readonly idealRate?: ProfileRate;
  readonly maintenance?: ProfileMaintenance;
}

const perMs = { s: 1000, min: 60_000, h: 3_600_000 } as const;

/** The ideal cycle time in ms per billed unit, as an exact decimal string: `per / value`. */
export function idealCycleTimeMs(rate: ProfileRate): string {
  // 12.5 m³/min → 60000 / 12.5 = 4800 ms per m³ (exact for terminating quotients; otherwise
  // 20 significant digits, which OEE then quantises anyway).
  return new Decimal(perMs[rate.per]).div(rate.value).toFixed();
}

/** OPC 40250-1 CompressorOperatingStateEnum codes → names, as strings (for JSON configs). */
export const compressorStateNames: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(compressorStateCodes).map(([name, code]) => [String(code), name]),
);

/**
 * For air sold as a service, "available" means ready to deliver air at pressure: running
 * loaded or unloaded, or stopped on standby by the controller. Only faults and maintenance
 * stops are down time.
 */
export const airServiceStates: StateMapping = {
  Loaded: "APT",
  Unloaded: "APT",
  Starting: "APT",
  Stopping: "APT",
  Stopped: "APT",
  Fault: "ADOT",
  Maintenance: "ADOT",
};

/**
 * A screw compressor after OPC 40250-1 (Compressor/Operational, Compressor/Maintenance
 * functional groups of OPC 40001 Machinery): browse names as NodeIds under `prefix`
 * (the maaskit simulator's layout, `ns=1;s=Compressor`). Capacity and ideal rate default to
 * a 12.5 m³/min (FAD) machine; pass the nameplate of yours.
 */
export function compressorProfile(
  o: {
    prefix?: string;
    /** Nameplate free air delivery. Default 12.5 m³/min. */
    fad?: ProfileRate;
    rollover?: string;
    /** Count stopped-on-standby as available (air service) or as a producing machine would. */
    availability?: "airService" | "production";
  } = {},
): MachineProfile {
  const s = o.prefix ?? "ns=1;s=Compressor";
  const fad = o.fad ?? { value: "12.5", per: "min" };
  return {
    name: "compressor (OPC 40250)",
    billed: "AccumulatedVolume",
    state: "OperatingState",
    channels: {
      AccumulatedVolume: {
        kind: "register",
        nodeId: `${s}.Operational.AccumulatedVolume`,
        unit: "MTQ",
        rollover: o.rollover ?? "100000000",
        // A register can't count faster than the machine delivers; 20 % margin.
        capacity: { value: new Decimal(fad.value).times("1.2").toFixed(), per: fad.per },
      },
      FlowRate: { kind: "rate", nodeId: `${s}.Operational.FlowRate`, unit: "G53" },
      OperatingState: { kind: "state", nodeId: `${s}.Operational.OperatingState` },
      OperatingHours: {
        kind: "value",
        nodeId: `${s}.Maintenance.OperatingHours`,
        unit: "HUR",
      },
      AirFilterDifferentialPressure: {
        kind: "value",
        nodeId: `${s}.Maintenance.AirFilterDifferentialPressure`,
        unit: "BAR",
      },
    },
    stateNames: compressorStateNames,
    stateMapping:
      (o.availability ?? "airService") === "airService" ? airServiceStates : compressorStates,
    idealRate: fad,
    maintenance: {
      filter: {
        channel: "AirFilterDifferentialPressure",
        above: "0.05",
        clearAt: "0.03",
        minDurationMs: 30 * 60_000,
      },
      service: { channel: "OperatingHours", runHours: "4000", months: 12 },
    },
  };
}
