import { defineConfig } from "vitest/config";

const packages = ["metering", "settlement", "maintenance", "gateway", "ledger-service"];

// Unit tests sit beside their source (`src/**/*.test.ts`); integration tests start real
// servers (OPC UA, anvil, child processes) and live in `test/**/*.test.ts`.
// The "source" condition makes sibling packages resolve to their TypeScript sources,
// so a fresh clone needs no prior build to run the tests.
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    projects: [
      ...packages.flatMap((name) => [
        {
          extends: true,
          test: {
            name: `${name}:unit`,
            root: `packages/${name}`,
            include: ["src/**/*.test.ts"],
          },
        },
        {
          extends: true,
          test: {
            name: `${name}:integration`,
            root: `packages/${name}`,
            include: ["test/**/*.test.ts"],
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
      ]),
      {
        // the packed tarballs installed with npm into an empty project (needs `pnpm build`)
        extends: true,
        test: {
          name: "packaging",
          root: "test",
          include: ["**/*.test.ts"],
          testTimeout: 120_000,
          // npm compiles better-sqlite3 from source when no prebuilt binary downloads (~3 min)
          hookTimeout: 600_000,
        },
      },
      {
        extends: true,
        test: {
          name: "examples",
          root: "examples",
          include: ["*/test/**/*.test.ts", "*/src/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
