#!/usr/bin/env node
// The compiled CLI, bundled: `npm run build` writes dist/ (`npm ci` and `npm pack` run it through
// `prepare`); scripts/bundle.mjs says why a bundle.
import { main } from '../dist/bundle/cli.js';
import { keepHeapSmall } from '../dist/bundle/heap.js';

keepHeapSmall();

// `media-migrate report | head`: the reader went away, which is no error of ours.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await main(process.argv);
// Let stdout drain, then leave even if a library still holds a socket open.
process.stdout.write('', () => process.exit(code));
