// The engine's public entry keeps TensorFlow.js out of the process that imports it: the server's main thread (and,
// later, an API node) never pays for a backend; tensors live in the engine's worker threads.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

const run = promisify(execFile);

/** Imports a module in a fresh Node process and says whether TensorFlow.js got loaded there. */
async function loadsTensorflow(module: string): Promise<boolean> {
  // tfjs-core registers its engine on the global object when it is first imported.
  const script = `await import(${JSON.stringify(module)}); console.log(globalThis._tfengine !== undefined);`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
  });
  return stdout.trim() === 'true';
}

describe('engine entry points', () => {
  it('src/engine/index.ts and the server load no TensorFlow.js; the Gatys subsystem does', async () => {
    expect(await loadsTensorflow('./src/engine/index.ts')).toBe(false);
    expect(await loadsTensorflow('./src/server.ts')).toBe(false);
    expect(await loadsTensorflow('./src/cli/main.ts')).toBe(false);
    // The check itself can see TensorFlow.js being loaded.
    expect(await loadsTensorflow('./src/engine/gatys/index.ts')).toBe(true);
  });
});
