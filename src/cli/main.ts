// `gramian` command line: stylize images, manage style models, fetch weights, and show what the engine runs on.
// Scripts use it without the server.
import { parseArgs } from 'node:util';
import {
  convertKerasVgg19,
  Engine,
  EngineInputError,
  fetchVggWeights,
  parseBackendChoice,
  vggCacheDir,
} from '../engine/index.js';
import { ROLES } from '../config.js';
import { InputError } from '../errors.js';
import { GC_USAGE, gcCommand } from './gc.js';
import { KEYS_USAGE, keysCommand } from './keys.js';
import { modelsCommand } from './models.js';
import { ProgressBar, formatBytes } from './progress.js';
import { STYLIZE_USAGE, stylizeCommand } from './stylize.js';

const USAGE = `Usage:
  gramian serve [--role all|api|worker]           the server (all: API and engine in one process, the default;
                                                  api and worker: a cluster's nodes, see README "Deployment")
  gramian stylize --content <image> --style <image> [--style <image> …] --out <file> [options]
  gramian stylize --content <image> --model <name|path> --out <file> [--size --strength --preserve-colors]
  gramian models [list]                           the pretrained style models and imported ones
  gramian models fetch <name>                     download a pretrained model now
  gramian models import <path> --name <name>      an ml5 checkpoint folder or an ncnn .param file
  gramian weights [--from <vgg19 .h5 file>]       fetch (or convert) VGG19 into ${vggCacheDir()}
  gramian info                                    show the backend and weights the engine uses
  gramian keys create --name <name> --scopes <list> [--owner <owner>]
                                                  an API key for the server, printed once
  gramian keys list                               the server's API keys (never the keys themselves)
  gramian keys revoke <prefix|id>                 stop a key from working
  gramian gc [--json]                             delete expired runs and unreferenced images now

${STYLIZE_USAGE}

${KEYS_USAGE}

${GC_USAGE}`;

function startEngine(): Promise<Engine> {
  return Engine.start({ backend: parseBackendChoice(process.env.GRAMIAN_BACKEND) });
}

async function weights(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { from: { type: 'string' } } });
  const bar = new ProgressBar();
  if (values.from) {
    await convertKerasVgg19(values.from, vggCacheDir());
    console.error(`converted ${values.from} into ${vggCacheDir()}`);
    return;
  }
  const folder = await fetchVggWeights({
    onProgress: (p) => bar.update(p.receivedBytes, p.totalBytes ?? 0, `${p.stage} ${formatBytes(p.receivedBytes)}`),
  });
  bar.finish();
  console.error(`VGG19 weights are in ${folder}`);
}

async function info(): Promise<void> {
  const engine = await startEngine();
  try {
    console.log(JSON.stringify({ ...engine.info(), ...(await engine.stats()) }, null, 2));
  } finally {
    await engine.close();
  }
}

/** Starts the server in this process (src/main.ts, as `npm start`), in the role asked for; runs until stopped. */
async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { role: { type: 'string' } } });
  if (values.role !== undefined) {
    if (!(ROLES as readonly string[]).includes(values.role))
      throw new InputError('role', `must be one of ${ROLES.join(', ')}`, ROLES.join(', '));
    process.env.GRAMIAN_ROLE = values.role;
  }
  await import('../main.js');
  // The server owns the process from here: it exits on SIGINT or SIGTERM.
  return new Promise<number>(() => {});
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') return await serve(rest);
    if (command === 'stylize') await stylizeCommand(rest);
    else if (command === 'models') await modelsCommand(rest, startEngine);
    else if (command === 'weights') await weights(rest);
    else if (command === 'info') await info();
    else if (command === 'keys') await keysCommand(rest);
    else if (command === 'gc') await gcCommand(rest);
    else {
      console.error(USAGE);
      return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
    }
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`gramian: ${message}`);
    // 2 for a usage or input mistake, 1 for everything else.
    if (
      error instanceof EngineInputError ||
      error instanceof InputError ||
      String((error as { code?: string }).code).startsWith('ERR_PARSE_ARGS')
    )
      return 2;
    return 1;
  }
}
