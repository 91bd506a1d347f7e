/** Types of scripts/compileContracts.mjs, for the tests that import it. */
export declare const packageRoot: string;
export declare const generatedDir: string;
export declare const compilerSettings: Record<string, unknown>;
export declare function compileContracts(root?: string): {
  files: Map<string, string>;
  solcVersion: string;
  warnings: string[];
};
