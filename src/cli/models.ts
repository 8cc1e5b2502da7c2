// `gramian models`: the pretrained catalogue and models imported for the command line, and how `--model` is
// resolved: a file or folder on disk, a catalogue name (fetched on first use), or a name imported here.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stylizeSample } from '../domain/sample-scene.js';
import {
  cacheRoot,
  catalogueModel,
  copyModelFiles,
  detectModelFormat,
  EngineInputError,
  ensureCatalogueModel,
  locateCatalogueModel,
  MODEL_CATALOGUE,
  type DownloadProgress,
  type Engine,
  type StyleModelSource,
} from '../engine/index.js';

/** Models imported with `gramian models import`, one folder each with a source.json. */
function importedRoot(): string {
  return path.join(cacheRoot(), 'style-models', 'imported');
}

async function importedModel(name: string): Promise<StyleModelSource | undefined> {
  const file = path.join(importedRoot(), name, 'source.json');
  if (!existsSync(file)) return undefined;
  const stored = JSON.parse(await readFile(file, 'utf8')) as StyleModelSource;
  return { ...stored, path: path.join(importedRoot(), name, stored.path) };
}

/** What `--model` names: a path, a catalogue model (fetched on first use), or an imported one. */
export async function resolveModel(
  nameOrPath: string,
  onProgress?: (p: DownloadProgress) => void,
): Promise<StyleModelSource> {
  if (existsSync(nameOrPath)) return detectModelFormat(path.resolve(nameOrPath));
  const entry = catalogueModel(nameOrPath);
  if (entry) {
    return {
      architecture: entry.architecture,
      format: entry.format,
      path: await ensureCatalogueModel(entry, onProgress ? { onProgress } : {}),
    };
  }
  const imported = await importedModel(nameOrPath);
  if (imported) return imported;
  const names = [...MODEL_CATALOGUE.map((m) => m.name), ...(await importedNames())];
  throw new EngineInputError('--model', `"${nameOrPath}" is neither a file nor a known model`, names.join(', '));
}

async function importedNames(): Promise<string[]> {
  return existsSync(importedRoot())
    ? (await readdir(importedRoot())).filter((name) => existsSync(path.join(importedRoot(), name, 'source.json')))
    : [];
}

/** Copies a model into the import folder after proving it loads and stylises the sample scene. */
async function importModel(engine: Engine, file: string, name: string): Promise<string> {
  if (!/^[\w][\w.-]{0,79}$/.test(name))
    throw new EngineInputError('--name', `"${name}" is not a usable name`, 'letters, digits, dots and dashes');
  if (catalogueModel(name) || (await importedModel(name)))
    throw new EngineInputError('--name', `a model named "${name}" already exists`);
  const source = detectModelFormat(path.resolve(file));
  const target = path.join(importedRoot(), name);
  await mkdir(target, { recursive: true });
  try {
    const relative = await copyModelFiles(source, target);
    const preview = await stylizeSample(engine, { ...source, path: path.join(target, relative) }, 96);
    await writeFile(path.join(target, 'preview.png'), preview.bytes);
    await writeFile(
      path.join(target, 'source.json'),
      `${JSON.stringify({ architecture: source.architecture, format: source.format, path: relative }, null, 2)}\n`,
    );
    return target;
  } catch (error) {
    await rm(target, { recursive: true, force: true });
    throw error;
  }
}

/** `gramian models [list]`, `gramian models fetch <name>`, `gramian models import <path> --name <name>`. */
export async function modelsCommand(argv: string[], startEngine: () => Promise<Engine>): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { name: { type: 'string' } },
  });
  const [action = 'list', target] = positionals;
  if (action === 'list') {
    for (const m of MODEL_CATALOGUE) {
      const where = locateCatalogueModel(m);
      console.log(
        `${m.name.padEnd(20)} ${m.architecture.padEnd(9)} ${m.title}${where ? '' : '  (fetched on first use)'}`,
      );
    }
    for (const name of await importedNames())
      console.log(`${name.padEnd(20)} imported  ${path.join(importedRoot(), name)}`);
    return;
  }
  if (action === 'fetch' && target) {
    const entry = catalogueModel(target);
    if (!entry)
      throw new EngineInputError(
        'models fetch',
        `unknown model "${target}"`,
        MODEL_CATALOGUE.map((m) => m.name).join(', '),
      );
    console.error(`${target} is in ${await ensureCatalogueModel(entry)}`);
    return;
  }
  if (action === 'import' && target) {
    if (!values.name) throw new EngineInputError('--name', 'is required to import a model');
    const engine = await startEngine();
    try {
      console.error(`imported ${values.name} into ${await importModel(engine, target, values.name)}`);
    } finally {
      await engine.close();
    }
    return;
  }
  throw new EngineInputError(
    'models',
    `unknown action "${positionals.join(' ')}"`,
    'list, fetch <name>, import <path> --name <name>',
  );
}
