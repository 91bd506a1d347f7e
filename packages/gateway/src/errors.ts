import { MaaskitError } from "@maaskit/metering";

/** Error codes of `@maaskit/gateway`. */
export type GatewayErrorCode =
  | "gateway.profile.invalid"
  | "gateway.profile.unitMismatch"
  | "gateway.config.invalid"
  | "gateway.config.unreadable"
  | "gateway.baseline.unreadable"
  | "gateway.init.keyExists"
  | "gateway.cli.usage";

/** A `MaaskitError` of the gateway package. */
export class GatewayError extends MaaskitError<GatewayErrorCode> {
  override name = "GatewayError";
  constructor(
    code: GatewayErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(code, message, { details, ...(cause === undefined ? {} : { cause }) });
  }
}
