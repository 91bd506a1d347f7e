// The shared helper lives in the private workspace package @maaskit/test-support; this
// re-export keeps the unit test under src/ledgers/postgres/ (owned elsewhere) importing it.
export { postgresTarget } from "@maaskit/test-support/postgres";
