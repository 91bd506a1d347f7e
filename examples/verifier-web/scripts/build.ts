import { buildVerifierPage } from "../src/buildPage.js";

const { path, bytes } = await buildVerifierPage();
console.log(`wrote ${path} (${(bytes / 1024).toFixed(0)} KiB, one file, no network)`);
