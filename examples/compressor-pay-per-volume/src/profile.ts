import { airServiceStates, compressorStateNames, type MachineProfile } from "@maaskit/gateway";

/** The maintenance plan's filter trigger: differential pressure above this (bar) for 30 min. */
export const FILTER_TRIGGER_BAR = "0.05";

/** The simulator's nameplate: 7.5 m³/min free air delivery (ISO 1217). */
const FAD = { value: "7.5", per: "min" } as const;

/**
 * The machine profile of the simulated screw compressor: which node is the billed volume
 * register (m³ FAD, wrapping at the register modulus, at most 9 m³/min — the nameplate with
 * 20 % margin), the flow, the OPC 40250 operating state, and the channels that feed the
 * maintenance triggers (filter differential pressure, run hours). Channel names are the
 * simulator's (`volume`, `flow`, `state`, `runHours`, `filterDp`); for another machine only
 * the node ids change.
 */
export function demoProfile(o: {
  readonly nodeIds: Readonly<Record<"volume" | "flow" | "state" | "runHours" | "filterDp", string>>;
  readonly rollover: string;
  /** The oil-and-separator service interval, in run hours. */
  readonly serviceRunHours: string;
}): MachineProfile {
  return {
    name: "screw compressor 7.5 m³/min (maaskit simulator)",
    billed: "volume",
    state: "state",
    channels: {
      volume: {
        kind: "register",
        nodeId: o.nodeIds.volume,
        unit: "MTQ",
        rollover: o.rollover,
        capacity: { value: "9", per: "min" },
      },
      flow: { kind: "rate", nodeId: o.nodeIds.flow, unit: "G53" },
      state: { kind: "state", nodeId: o.nodeIds.state },
      runHours: { kind: "value", nodeId: o.nodeIds.runHours, unit: "HUR" },
      filterDp: { kind: "value", nodeId: o.nodeIds.filterDp, unit: "BAR" },
    },
    stateNames: compressorStateNames,
    // For air sold as a service, standby is available time: only faults and maintenance are down.
    stateMapping: airServiceStates,
    idealRate: FAD,
    maintenance: {
      filter: {
        channel: "filterDp",
        above: FILTER_TRIGGER_BAR,
        clearAt: "0.03",
        minDurationMs: 30 * 60_000,
      },
      service: { channel: "runHours", runHours: o.serviceRunHours, months: 12 },
    },
  };
}
