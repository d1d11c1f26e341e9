#!/usr/bin/env node
// The compiled CLI: `npm run build` writes dist/ (`npm ci` and `npm pack` run it through `prepare`).
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv);
// Let stdout drain, then leave even if a library still holds a socket open.
process.stdout.write('', () => process.exit(code));
