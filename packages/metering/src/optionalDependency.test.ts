import { describe, expect, test } from "vitest";
import { isMaaskitError } from "./errors.js";
import { assertOptionalInstalled, requireOptional } from "./optionalDependency.js";

describe("requireOptional", () => {
  test("default: loads an installed package", () => {
    const rxjs = requireOptional<typeof import("rxjs")>("rxjs", "@maaskit/metering/test");
    expect(typeof rxjs.Observable).toBe("function");
  });

  test("error: a missing package is maaskit.dependency.missing naming the package and the entry", () => {
    let caught: unknown;
    try {
      requireOptional("maaskit-no-such-package", "@maaskit/metering/opcua");
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "maaskit.dependency.missing")).toBe(true);
    const e = caught as { shortMessage: string; details: Record<string, unknown> };
    expect(e.shortMessage).toContain("npm install maaskit-no-such-package");
    expect(e.details).toEqual({
      package: "maaskit-no-such-package",
      entry: "@maaskit/metering/opcua",
    });
  });

  test("error: a package that is there but fails to load is not reported as missing", () => {
    // a subpath the package does not export: ERR_PACKAGE_PATH_NOT_EXPORTED, not a missing package
    let caught: unknown;
    try {
      requireOptional("rxjs/no-such-subpath", "@maaskit/metering/test");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(isMaaskitError(caught)).toBe(false);
  });
});

describe("assertOptionalInstalled", () => {
  test("default: an installed package passes without being loaded", () => {
    const before = Object.keys(require.cache ?? {}).length;
    expect(() => assertOptionalInstalled("decimal.js", "@maaskit/metering/test")).not.toThrow();
    expect(Object.keys(require.cache ?? {}).length).toBe(before);
  });

  test("error: a missing package is maaskit.dependency.missing naming the package and the entry", () => {
    let caught: unknown;
    try {
      assertOptionalInstalled("maaskit-no-such-package", "@maaskit/metering/sparkplug");
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "maaskit.dependency.missing")).toBe(true);
    expect((caught as { details: unknown }).details).toEqual({
      package: "maaskit-no-such-package",
      entry: "@maaskit/metering/sparkplug",
    });
  });
});
