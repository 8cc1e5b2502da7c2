#!/usr/bin/env node
// The package runs from its TypeScript sources through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// Exit explicitly: the threaded wasm backend keeps worker threads that would hold the process open.
process.exit(await main(process.argv.slice(2)));
