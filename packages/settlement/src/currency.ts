import { addressField, integerField, objectField, textField } from "./schemaFields.js";

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

/** A currency's JSON form in, a `Currency` out (an address kept as written). */
export const currencySchema = objectField({
  symbol: textField(),
  decimals: integerField(0, MAX_CURRENCY_DECIMALS),
  address: addressField().optional(),
}).transform(
  (c): Currency =>
    c.address === undefined
      ? { symbol: c.symbol, decimals: c.decimals }
      : { symbol: c.symbol, decimals: c.decimals, address: c.address },
);
