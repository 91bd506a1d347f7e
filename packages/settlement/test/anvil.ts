// Tests start anvil through the library's own launcher (`@maaskit/settlement/anvil`).
export { type Anvil, startAnvil } from "../src/ledgers/evm/startAnvil.js";
