import { isAddress } from "ethers/address";
import { join, type ProblemList } from "./problems.js";

/**
 * The money an agreement is settled in: a fiat currency (`{ symbol: "EUR", decimals: 2 }`)
 * or an ERC-20 token (`{ symbol: "EURe", decimals: 18, address: "0x…" }`). Invoice amounts
 * are multiples of `10^-decimals`; the tariff may round to fewer decimals (cents of an
 * 18-decimal token).
 *
 * @example
 * const eur: Currency = { symbol: "EUR", decimals: 2 };
 */
export interface Currency {
  readonly symbol: string;
  /** Minor-unit decimals (2 for EUR, 6 for USDC, 18 for most tokens); 0 to 36. */
  readonly decimals: number;
  /** ERC-20 token contract, when settled on an EVM chain. */
  readonly address?: string;
}

/** Largest `Currency.decimals` maaskit accepts. */
export const MAX_CURRENCY_DECIMALS = 36;

/** Validates a currency's JSON into `problems`; returns the currency when it is valid. */
export function readCurrency(
  value: unknown,
  path: string,
  problems: ProblemList,
): Currency | undefined {
  const obj = problems.object(value, path);
  if (obj === undefined) return undefined;
  problems.unknownKeys(obj, path, ["symbol", "decimals", "address"]);
  const before = problems.items.length;
  const symbol = problems.string(obj.symbol, join(path, "symbol"));
  const decimals = problems.integer(obj.decimals, join(path, "decimals"), 0, MAX_CURRENCY_DECIMALS);
  if (obj.address !== undefined && (typeof obj.address !== "string" || !isAddress(obj.address))) {
    problems.add(join(path, "address"), "must be a 20-byte hex address");
  }
  if (problems.items.length > before || symbol === undefined || decimals === undefined) {
    return undefined;
  }
  return obj.address === undefined
    ? { symbol, decimals }
    : { symbol, decimals, address: obj.address as string };
}
