#!/usr/bin/env node
// The `maaskit-ledger` command (a committed file, so package managers link it at install
// time even before the package is built); the command itself is the built dist/cli.js.
import "../dist/cli.js";
