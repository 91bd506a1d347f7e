import { defineConfig } from "vitest/config";

// The fault harness runs on its own (`pnpm test:faults`), not in the default `vitest run`:
// its scenarios kill, starve and restart real processes for a few minutes. Scenario files
// run one after another, so the kill instants and outages are not distorted by each other
// on a two-core machine. The "source" condition resolves the maaskit packages to their
// TypeScript sources (no build needed).
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    name: "faults",
    root: import.meta.dirname,
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
