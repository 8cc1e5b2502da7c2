// The README's "Access" examples, run as written: the shell block with `npx gramian keys` and curl, against a real
// server that requires credentials, with its answers checked against the ones the README shows.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, testEnv, type TestServer } from './helpers/server.js';
import { REPO_ROOT } from './helpers/shared.js';

const run = promisify(execFile);
const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
const access = readme.slice(readme.indexOf('## Access'), readme.indexOf('\n## ', readme.indexOf('## Access') + 3));
/** The shell block, without the indentation of the list item it sits in. */
const block = /^( *)```sh\n([\s\S]*?)^\1```/m.exec(access)!;
const script = block[2]!.replace(new RegExp(`^${block[1]}`, 'gm'), '');

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ GRAMIAN_AUTH: 'keys' });
});

afterAll(async () => {
  await server.stop();
});

describe('README Access', () => {
  it('has the keys example', () => {
    expect(script).toContain('npx gramian keys create');
  });

  it('runs the keys example as written and answers what it shows', async () => {
    // The README talks to the default address; here the test server's, with the CLI on the same data folder.
    const body = script.replaceAll('http://localhost:4000', server.url);
    const env = { ...process.env, ...testEnv(server.dataDir), PORT: '4000' };
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', body], { cwd: REPO_ROOT, env });
    const shown = script
      .split('\n')
      .filter((line) => line.startsWith('# '))
      .map((line) => line.slice(2).trim());
    expect(shown.length).toBeGreaterThanOrEqual(2);
    const printed = stdout.split('\n').map((line) => line.trim());
    for (const answer of shown) expect(printed, `the README shows ${answer}`).toContain(answer);
    // The key was revoked by the prefix `keys list` shows.
    const key = await server.services.db.apiKey.findFirstOrThrow({ where: { name: "alice's batch" } });
    expect(key.revokedAt).not.toBeNull();
    expect(printed.some((line) => line.startsWith(key.prefix))).toBe(true);
  });
});
