// public entry point; filled by the settlement/maintenance issues.
export {};
