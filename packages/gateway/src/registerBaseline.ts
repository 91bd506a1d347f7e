import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { GatewayError } from "./errors.js";

/** Where the billed register stood when billing started (kept until the first record is journaled). */
export interface RegisterBaseline {
  readonly machineId: string;
  /** Decimal string, in the register's unit. */
  readonly register: string;
  readonly at: Date;
  /** `reading`: observed by the gateway; `configured`: given in the config (read at agreement start). */
  readonly source: "reading" | "configured";
}

/** The persisted register baseline, if any. */
export function readBaseline(file: string): RegisterBaseline | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const b = JSON.parse(readFileSync(file, "utf8")) as {
      register: string;
      at: string;
      machineId: string;
      source?: "reading" | "configured";
    };
    return {
      register: b.register,
      at: new Date(b.at),
      machineId: b.machineId,
      source: b.source ?? "reading",
    };
  } catch (cause) {
    throw new GatewayError(
      "gateway.baseline.unreadable",
      `Cannot read the register baseline ${file}`,
      { file },
      cause,
    );
  }
}

/** Writes the baseline durably: temp file, fsync, rename (a crash leaves the old or the new). */
export function writeBaseline(file: string, b: RegisterBaseline): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(
      fd,
      JSON.stringify({
        machineId: b.machineId,
        register: b.register,
        at: b.at.toISOString(),
        source: b.source,
      }),
    );
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
