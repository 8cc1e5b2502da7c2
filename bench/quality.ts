// Quality against time: the built-in Gatys presets and a few step/scale variants, each run on the shared images and
// scored with VGG19 (the quality score every run gets: style and content distance, lower is closer). Prints the table
// and which runs are on the frontier (no other run is at least as good on both scores in less time), the figures the
// presets' defaults are chosen from; writes bench/results/quality-<backend>.json.
//
//   npm run bench:quality                           # every preset at its own size (hours on wasm)
//   npm run bench:quality -- --size 192             # the same shapes (scales, steps) at 192 px: minutes
//   npm run bench:quality -- --pairs tubingen.jpg:starry_night.jpg,amber.jpg:the_scream.jpg
//
// Runs go through the engine as the server runs them (a worker thread, the backend's limits), one after another.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUILT_IN_PRESETS, type PresetParams } from '../src/domain/presets.js';
import { Engine, parseBackendChoice } from '../src/engine/index.js';
import { machineInfo, REPO_ROOT, SHARED } from './machine.js';

const WEIGHTS = path.join(SHARED, 'models/vgg19-uint8-neuralpixels');
const RESULTS_DIR = path.join(REPO_ROOT, 'bench/results');

interface Variant {
  name: string;
  params: PresetParams;
}

/** The built-in Gatys presets, and the shapes around them: fewer and more steps, more scales for the same steps. */
function variants(size: number | undefined): Variant[] {
  const presets = BUILT_IN_PRESETS.filter((p) => p.engine === 'GATYS').map((p) => ({
    name: `preset: ${p.name}`,
    params: p.params,
  }));
  const around: Variant[] = [
    { name: '1 scale × 50', params: { size: 256, steps: 50 } },
    { name: '1 scale × 200', params: { size: 256, steps: 200 } },
    { name: '2 scales × 50', params: { size: 256, scales: 2, steps: 50 } },
    { name: '2 scales × 100', params: { size: 256, scales: 2, steps: 100 } },
    { name: '3 scales × 50', params: { size: 256, scales: 3, steps: 50 } },
  ];
  return [...presets, ...around].map((v) => ({
    ...v,
    params: { ...v.params, previewEvery: 0, ...(size ? { size } : {}) },
  }));
}

interface Row {
  variant: string;
  pair: string;
  size: number;
  scales: number;
  steps: number;
  seconds: number;
  style: number;
  content: number;
  frontier?: boolean;
}

/** A run is on the frontier when no other run of the same pair is as close on both scores and faster. */
function markFrontier(rows: Row[]): void {
  for (const row of rows) {
    row.frontier = !rows.some(
      (other) =>
        other !== row &&
        other.pair === row.pair &&
        other.seconds <= row.seconds &&
        other.style <= row.style &&
        other.content <= row.content &&
        (other.seconds < row.seconds || other.style < row.style || other.content < row.content),
    );
  }
}

function table(rows: Row[]): string {
  return [
    '| Run | Pair | Size | Scales × steps | Seconds | Style | Content | Frontier |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: | :---: |',
    ...rows.map(
      (r) =>
        `| ${r.variant} | ${r.pair} | ${r.size} | ${r.scales} × ${r.steps} | ${r.seconds.toFixed(0)} | ` +
        `${r.style.toFixed(3)} | ${r.content.toFixed(3)} | ${r.frontier ? '✓' : ''} |`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { size: { type: 'string' }, pairs: { type: 'string' }, backend: { type: 'string' } },
  });
  const size = values.size ? Number(values.size) : undefined;
  const pairs = (values.pairs ?? 'tubingen.jpg:starry_night.jpg').split(',').map((pair) => pair.split(':'));
  const loadAverage = os.loadavg();
  const engine = await Engine.start({
    backend: parseBackendChoice(values.backend),
    weightsDir: WEIGHTS,
    log: (message) => console.error(`  engine: ${message}`),
  });
  const rows: Row[] = [];
  let backend = '';
  try {
    for (const [contentFile, styleFile] of pairs) {
      const content = await readFile(path.join(SHARED, 'images/content', contentFile!));
      const style = await readFile(path.join(SHARED, 'images/style', styleFile!));
      for (const variant of variants(size)) {
        console.error(`${variant.name} on ${contentFile} × ${styleFile}…`);
        const params = { ...variant.params, content, styles: [{ image: style }] };
        for await (const event of engine.run({ kind: 'GATYS', params })) {
          if (event.type === 'started') backend = event.backend;
          if (event.type !== 'done') continue;
          if (!event.quality || event.quality.style === null)
            throw new Error(`${variant.name}: the run was not scored`);
          rows.push({
            variant: variant.name,
            pair: `${contentFile} × ${styleFile}`,
            size: params.size ?? 512,
            scales: params.scales ?? 1,
            steps: params.steps ?? 500,
            // The run's own time, without the scoring after it.
            seconds: event.ms / 1000,
            style: event.quality.style,
            content: event.quality.content,
          });
        }
      }
    }
  } finally {
    await engine.close();
  }
  markFrontier(rows);
  console.log(`\n${table(rows)}\n`);
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `quality-${backend}.json`);
  await writeFile(file, `${JSON.stringify({ machine: machineInfo(loadAverage), size, rows }, null, 2)}\n`);
  console.error(`wrote ${path.relative(REPO_ROOT, file)}`);
}

main().catch((error: unknown) => {
  console.error(`bench:quality: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
