import type { ChildProcess } from "node:child_process";

/**
 * The lines a child process prints on stdout, and a wait for the first line matching a
 * pattern (polled every 10 ms, at most `attempts` times; then an error with all output).
 */
export function childLines(
  child: ChildProcess,
  attempts = 3000,
): { out: () => string[]; waitFor: (p: RegExp) => Promise<string> } {
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
  });
  const out = () => buf.split("\n").filter((l) => l !== "");
  return {
    out,
    async waitFor(p) {
      for (let i = 0; i < attempts; i++) {
        const hit = out().find((l) => p.test(l));
        if (hit !== undefined) return hit;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`child never printed ${p}: ${buf}`);
    },
  };
}
