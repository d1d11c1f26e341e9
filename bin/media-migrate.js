#!/usr/bin/env node
// The CLI runs its TypeScript sources through tsx: no build step between a clone and a working command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv);
// Let stdout drain, then leave even if a library still holds a socket open.
process.stdout.write('', () => process.exit(code));
