// What every results file in bench/results records about the run's machine, so figures can be compared fairly.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(REPO_ROOT, '../shared');

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Date, Node, CPU, cores and the load average when the measurement started (another job skews every figure). */
export function machineInfo(loadAverageAtStart: number[]) {
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    loadAverageAtStart: loadAverageAtStart.map(round1),
  };
}
