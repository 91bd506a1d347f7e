// Defaults and validation of the delivery loop's options, and which sink errors it retries.
import { MaaskitError } from "../errors.js";
import type { CreateDeliveryLoopParameters, DeliveryBackoff } from "./createDeliveryLoop.js";

const DEFAULT_BACKOFF: DeliveryBackoff = { initialMs: 500, maxMs: 60_000, factor: 2, jitter: 0.2 };
const DEFAULT_MAX_BATCH = 100;
/** Live batching by default: a few seconds, never past a billing-period end (`flushAfter`). */
const DEFAULT_MAX_BATCH_DELAY_MS = 2_000;

/** The loop's options with their defaults, every problem reported at once. */
export function deliveryOptions<R>(params: CreateDeliveryLoopParameters<R>): {
  backoff: DeliveryBackoff;
  maxBatch: number;
  maxBatchDelayMs: number;
} {
  const backoff = { ...DEFAULT_BACKOFF, ...params.backoff };
  const problems: string[] = [];
  if (!(backoff.initialMs >= 0)) problems.push("backoff.initialMs must be >= 0");
  if (!(backoff.maxMs >= backoff.initialMs)) problems.push("backoff.maxMs must be >= initialMs");
  if (!(backoff.factor >= 1)) problems.push("backoff.factor must be >= 1");
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1))
    problems.push("backoff.jitter must be in [0, 1]");
  const maxBatch = params.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!(Number.isSafeInteger(maxBatch) && maxBatch >= 1))
    problems.push("maxBatch must be an integer >= 1");
  const maxBatchDelayMs = params.maxBatchDelayMs ?? DEFAULT_MAX_BATCH_DELAY_MS;
  if (!(maxBatchDelayMs >= 0 && Number.isFinite(maxBatchDelayMs)))
    problems.push("maxBatchDelayMs must be a finite number >= 0");
  if (problems.length > 0) {
    throw new MaaskitError("metering.journal.invalidConfig", problems.join("; "), {
      details: { problems },
    });
  }
  return { backoff, maxBatch, maxBatchDelayMs };
}

/** A sink error is retried unless it says `retryable: false` (as a property or in `details`). */
export function isRetryable(error: unknown): boolean {
  if (error === null || typeof error !== "object") return true;
  const e = error as { retryable?: unknown; details?: { retryable?: unknown } };
  if (e.retryable === false) return false;
  if (e.details !== null && typeof e.details === "object" && e.details.retryable === false) {
    return false;
  }
  return true;
}
