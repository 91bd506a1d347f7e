/**
 * UNECE Recommendation 20 common codes used by maaskit. The list is open (`string & {}`)
 * so a vendor can use any other Rec. 20 code; these are the ones maaskit knows how to
 * convert and integrate.
 */
export type UnitCode =
  | "MTQ" // cubic metre
  | "LTR" // litre
  | "MQH" // cubic metre per hour
  | "G53" // cubic metre per minute
  | "MQS" // cubic metre per second
  | "KWH" // kilowatt hour
  | "KWT" // kilowatt
  | "HUR" // hour
  | "MIN" // minute
  | "SEC" // second
  | "C62" // one (pieces, counts)
  | "BAR" // bar
  | "CEL" // degree Celsius
  | "P1" // percent
  | (string & {});

/**
 * Reference basis of a compressed-air volume. FAD per ISO 1217 (free air delivery at
 * inlet conditions) and normal m³ per DIN 1343 (0 °C, 1.01325 bar) differ by about 7 %,
 * so an air volume always says which one it is.
 */
export const volumeBases = ["ISO1217-FAD", "DIN1343-normal", "ISO2533-standard", "actual"] as const;

/** One of {@link volumeBases}. */
export type VolumeBasis = (typeof volumeBases)[number];

/** Volume-flow rate units and the volume unit + seconds per time unit they integrate to. */
export const rateUnits: Readonly<
  Record<string, { volumeUnit: UnitCode; secondsPerTimeUnit: number }>
> = {
  MQH: { volumeUnit: "MTQ", secondsPerTimeUnit: 3600 },
  G53: { volumeUnit: "MTQ", secondsPerTimeUnit: 60 },
  MQS: { volumeUnit: "MTQ", secondsPerTimeUnit: 1 },
  KWT: { volumeUnit: "KWH", secondsPerTimeUnit: 3600 },
};
