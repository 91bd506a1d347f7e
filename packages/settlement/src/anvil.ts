// @maaskit/settlement/anvil — start a local anvil dev node (from the npm package
// `@foundry-rs/anvil`, an optional peer dependency) for tests, demos and the gateway's
// `evm` ledger choice. Never used on a real chain.
export { type Anvil, anvilBinary, anvilMnemonic, startAnvil } from "./ledgers/evm/startAnvil.js";
