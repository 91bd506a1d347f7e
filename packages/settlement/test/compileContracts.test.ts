import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compileContracts, generatedDir, packageRoot } from "../scripts/compileContracts.mjs";

describe("compileContracts", () => {
  const { files, solcVersion, warnings } = compileContracts();

  test("default: the committed artifacts are exactly what the sources compile to", () => {
    expect(files.size).toBeGreaterThan(0);
    for (const [path, content] of files) {
      expect(readFileSync(join(packageRoot, path), "utf8"), path).toBe(content);
    }
  });

  test("behavior: no generated artifact without a contract source", () => {
    const committed = readdirSync(join(packageRoot, generatedDir))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => `${generatedDir}/${f}`)
      .sort();
    expect(committed).toEqual([...files.keys()].sort());
  });

  test("behavior: compiled by the pinned solc without warnings", () => {
    expect(solcVersion).toMatch(/^0\.8\.37\+/);
    expect(warnings).toEqual([]);
  });
});
