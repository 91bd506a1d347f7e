// Tests start anvil through the library's own launcher (`@maaskit/settlement/anvil`).
export {
  type Anvil,
  anvilBinary,
  anvilMnemonic,
  startAnvil,
} from "../src/ledgers/evm/startAnvil.js";
