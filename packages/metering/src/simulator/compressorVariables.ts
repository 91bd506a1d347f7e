import type { CompressorChannel } from "../sources/fromSimulatedCompressor.js";
import type { CompressorSnapshot } from "./compressorModel.js";

export interface VariableDef {
  channel: CompressorChannel;
  group: "Operational" | "Maintenance";
  browseName: string;
  field: keyof CompressorSnapshot;
  unit?: [code: string, symbol: string, name: string];
  description: string;
}

// Browse names after OPC 40250-1 (CompressorOperationalType, OperatingState) and OPC 40001
// Machinery (Operational / Maintenance functional groups); units are UNECE Rec. 20 codes.
export const VARIABLES: readonly VariableDef[] = [
  {
    channel: "volume",
    group: "Operational",
    browseName: "AccumulatedVolume",
    field: "volume",
    unit: ["MTQ", "m³", "cubic metre"],
    description:
      "Totalizer of delivered free air (ISO 1217 FAD), m³; rolls over at the configured modulus",
  },
  {
    channel: "flow",
    group: "Operational",
    browseName: "FlowRate",
    field: "flow",
    unit: ["G53", "m³/min", "cubic metre per minute"],
    description: "Free air delivery (ISO 1217 FAD)",
  },
  {
    channel: "state",
    group: "Operational",
    browseName: "OperatingState",
    field: "stateCode",
    description:
      "CompressorOperatingStateEnum (OPC 40250-1): 1 Stopped, 2 Starting, 3 Stopping, 4 Unloaded, 7 Loaded",
  },
  {
    channel: "netPressure",
    group: "Operational",
    browseName: "NetPressure",
    field: "netPressure",
    unit: ["BAR", "bar", "bar"],
    description: "Airnet pressure, gauge",
  },
  {
    channel: "dischargePressure",
    group: "Operational",
    browseName: "DischargePressure",
    field: "dischargePressure",
    unit: ["BAR", "bar", "bar"],
    description: "Compressor discharge pressure, gauge",
  },
  {
    channel: "dischargeTemp",
    group: "Operational",
    browseName: "DischargeTemperature",
    field: "dischargeTemperature",
    unit: ["CEL", "°C", "degree Celsius"],
    description: "Compressor element discharge temperature",
  },
  {
    channel: "runHours",
    group: "Maintenance",
    browseName: "OperatingHours",
    field: "runHours",
    unit: ["HUR", "h", "hour"],
    description: "Motor running hours",
  },
  {
    channel: "loadedHours",
    group: "Maintenance",
    browseName: "LoadHours",
    field: "loadedHours",
    unit: ["HUR", "h", "hour"],
    description: "Hours in the Loaded state",
  },
  {
    channel: "filterDp",
    group: "Maintenance",
    browseName: "AirFilterDifferentialPressure",
    field: "filterDp",
    unit: ["BAR", "bar", "bar"],
    description: "Intake air filter differential pressure",
  },
  {
    channel: "timeToService",
    group: "Maintenance",
    browseName: "TimeToNextService",
    field: "timeToService",
    unit: ["HUR", "h", "hour"],
    description: "Running hours until the next service is due",
  },
];
