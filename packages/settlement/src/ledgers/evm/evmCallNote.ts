import { concat, getBytes, hexlify, toUtf8Bytes, toUtf8String } from "ethers";

/**
 * What the EVM backend appends to the calldata of each call it makes to the maaskit
 * contracts: the ledger time of the call and what the chain keeps only as hashes (an
 * agreement's document, a reference, a channel name). A restarted backend rebuilds its
 * mirror from these notes and the calldata. Internal to the EVM backend.
 */
export interface EvmCallNote {
  readonly v: 1;
  /** Ledger time of the call (ISO-8601, milliseconds). */
  readonly at: string;
  /** The mirror's command, for every call but record submissions. */
  readonly c?: unknown;
  /** Record submissions: the channel name and each record's extras JSON (when any). */
  readonly r?: { readonly ch: string; readonly x?: readonly unknown[] };
}

// Frame: utf8(JSON) ‖ uint32 length (big-endian) ‖ magic "mkn1". Solidity's ABI decoder
// ignores calldata past the arguments, so the contracts never see the note.
const MAGIC = "6d6b6e31";

/**
 * Appends a note to ABI-encoded calldata.
 *
 * @example const data = appendCallNote(tx.data, { v: 1, at: new Date().toISOString(), c: cmd })
 */
export function appendCallNote(data: string, note: EvmCallNote): string {
  const body = toUtf8Bytes(JSON.stringify(note));
  const length = body.length.toString(16).padStart(8, "0");
  return concat([data, body, `0x${length}${MAGIC}`]);
}

/**
 * Splits calldata into the ABI part and its note (`undefined` when it carries none).
 *
 * @example const { data, note } = readCallNote(tx.data)
 */
export function readCallNote(calldata: string): { data: string; note: EvmCallNote | undefined } {
  const bytes = getBytes(calldata);
  const n = bytes.length;
  if (n < 12 || hexlify(bytes.subarray(n - 4)).slice(2) !== MAGIC) {
    return { data: calldata, note: undefined };
  }
  const length = Number.parseInt(hexlify(bytes.subarray(n - 8, n - 4)).slice(2), 16);
  const start = n - 8 - length;
  if (start < 4) return { data: calldata, note: undefined };
  try {
    const note = JSON.parse(toUtf8String(bytes.subarray(start, n - 8))) as EvmCallNote;
    if (note === null || typeof note !== "object" || note.v !== 1) {
      return { data: calldata, note: undefined };
    }
    return { data: hexlify(bytes.subarray(0, start)), note };
  } catch {
    return { data: calldata, note: undefined };
  }
}
