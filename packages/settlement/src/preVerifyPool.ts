import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { PreVerifiedRecord, PreVerifiedRecords } from "@maaskit/metering";
import { ledgerError } from "./ledgerErrors.js";

/**
 * Encoding and signature checks of submitted records on worker threads, before a ledger
 * takes its lock. Each record is sent as its JSON text, and its verdict (digest, signature
 * failure or none) comes back keyed by that text in a `Map` built here: the rules use a
 * verdict only for a record whose JSON text is exactly that, decoded from that text. Nothing
 * here decides anything: when a worker is missing, failed or the pool is closed, `verify`
 * answers `undefined` and the rules check in place, with the same result.
 * @internal
 */
export interface PreVerifyPool {
  /** Worker threads (0: none; every record is checked in the rules' thread). */
  readonly size: number;
  /** Verdicts of `records` (wire form) by their JSON text; never rejects. */
  verify(records: readonly unknown[]): Promise<PreVerifiedRecords | undefined>;
  /** Starts the workers and resolves once each has loaded or failed. */
  warm(): Promise<void>;
  /** Stops the workers; later calls answer `undefined`. */
  close(): Promise<void>;
}

type Verdicts = readonly (PreVerifiedRecord | null)[] | undefined;

interface Slot {
  readonly worker: Worker;
  /** Loaded: calls are sent only to loaded workers, never queued behind a start. */
  ready: boolean;
  /** Resolves when the worker has loaded or failed. */
  readonly loaded: Promise<void>;
  readonly calls: Map<number, (v: Verdicts) => void>;
}

interface Job {
  readonly texts: readonly string[];
  readonly resolve: (v: PreVerifiedRecords | undefined) => void;
}

/** The pool size option of a ledger: a whole number ≥ 0, default the available cores. */
export function verifyThreadsOption(value: unknown): number {
  if (value === undefined) return availableParallelism();
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > 256) {
    throw ledgerError(
      "settlement.ledger.unavailable",
      "verifyThreads must be a whole number from 0 to 256",
      { verifyThreads: String(value) },
    );
  }
  return value;
}

/**
 * A pool of `size` workers, started on first use; calls made before any has loaded are
 * answered `undefined` at once. Calls that arrive in the same tick share one message per
 * loaded worker (their records split evenly over the workers).
 * @internal
 */
export function preVerifyPool(size: number): PreVerifyPool {
  const slots: (Slot | undefined)[] = [];
  let pending: Job[] = [];
  let scheduled = false;
  let closed = false;
  let nextId = 0;
  let rotate = 0;

  function slot(i: number): Slot {
    const existing = slots[i];
    if (existing !== undefined) return existing;
    const worker = startWorker();
    let markLoaded = () => {};
    const loaded = new Promise<void>((r) => {
      markLoaded = r;
    });
    const s: Slot = { worker, ready: false, loaded, calls: new Map() };
    worker.on("message", (m: "ready" | { id: number; verdicts: Verdicts }) => {
      if (m === "ready") {
        s.ready = true;
        // Loading keeps the process alive (someone may await it); an idle worker does not.
        if (s.calls.size === 0) worker.unref();
        markLoaded();
        return;
      }
      const done = s.calls.get(m.id);
      s.calls.delete(m.id);
      // An idle worker does not keep the process alive; a busy one does.
      if (s.calls.size === 0) worker.unref();
      done?.(m.verdicts);
    });
    const fail = () => {
      markLoaded();
      if (slots[i] === s) slots[i] = undefined;
      for (const done of s.calls.values()) done(undefined);
      s.calls.clear();
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    slots[i] = s;
    return s;
  }

  function send(s: Slot, texts: readonly string[]): Promise<Verdicts> {
    return new Promise((resolve) => {
      try {
        const id = nextId++;
        s.calls.set(id, resolve);
        if (s.calls.size === 1) s.worker.ref();
        s.worker.postMessage({ id, texts });
      } catch {
        resolve(undefined);
      }
    });
  }

  function flush(): void {
    scheduled = false;
    const jobs = pending;
    pending = [];
    if (closed) {
      for (const j of jobs) j.resolve(undefined);
      return;
    }
    // Start every worker; until one is loaded, the rules check in place (no call waits).
    const loaded: Slot[] = [];
    for (let i = 0; i < size; i++) {
      try {
        const s = slot(i);
        if (s.ready) loaded.push(s);
      } catch {
        // not startable here: the rules check in place
      }
    }
    if (loaded.length === 0) {
      for (const j of jobs) j.resolve(undefined);
      return;
    }
    const all = jobs.flatMap((j) => j.texts);
    const parts = Math.min(loaded.length, all.length);
    const per = Math.ceil(all.length / parts);
    const first = rotate++;
    const sent: Promise<Verdicts>[] = [];
    for (let k = 0; k < parts; k++) {
      sent.push(send(loaded[(first + k) % loaded.length]!, all.slice(k * per, (k + 1) * per)));
    }
    void Promise.all(sent).then((answers) => {
      // Keyed here, by the texts this thread sent, in the order the worker answers them.
      const byText = new Map<string, PreVerifiedRecord>();
      answers.forEach((verdicts, k) => {
        const texts = all.slice(k * per, (k + 1) * per);
        if (verdicts?.length !== texts.length) return;
        verdicts.forEach((v, i) => {
          if (v !== null) byText.set(texts[i]!, v);
        });
      });
      for (const j of jobs) j.resolve(byText.size === 0 ? undefined : byText);
    });
  }

  return {
    size,
    verify(records) {
      if (size === 0 || closed || !Array.isArray(records) || records.length === 0) {
        return Promise.resolve(undefined);
      }
      let texts: string[];
      try {
        texts = records.map((r) => JSON.stringify(r));
      } catch {
        return Promise.resolve(undefined);
      }
      if (texts.some((t) => typeof t !== "string")) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        pending.push({ texts, resolve });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    async warm() {
      if (closed) return;
      const started: Promise<void>[] = [];
      for (let i = 0; i < size; i++) {
        try {
          started.push(slot(i).loaded);
        } catch {
          // not startable: verify answers undefined
        }
      }
      await Promise.all(started);
    },
    async close() {
      closed = true;
      const workers = slots.filter((s): s is Slot => s !== undefined);
      slots.length = 0;
      await Promise.all(workers.map((s) => s.worker.terminate()));
    },
  };
}

/**
 * The worker beside this module: `preVerifyWorker.js`/`.cjs` in the built package; from
 * the TypeScript sources (tests), the `.ts` file through tsx with the "source" condition.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const api = pathToFileURL(createRequire(here).resolve("tsx/esm/api")).href;
    const url = new URL("./preVerifyWorker.ts", here).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(code, { eval: true, execArgv: ["--conditions=source"] });
  }
  return new Worker(new URL(`./preVerifyWorker${here.endsWith(".cjs") ? ".cjs" : ".js"}`, here));
}
