// ncnn model files: the text .param graph and the .bin weights it describes. Only what a fast-style network uses is
// read: the layer list with its parameters, and the weights of Convolution and InstanceNorm layers (fp16 or float32
// convolution weights, float32 biases and norm parameters), in .param order, as ncnn's ModelBinFromDataReader does.
import { readFile } from 'node:fs/promises';
import { StyleModelError } from '../errors.js';

/** First line of every .param file. */
export const NCNN_MAGIC = 7767517;
/** Tag before fp16 weights (ncnnoptimize … 1). */
export const NCNN_TAG_FP16 = 0x01306b47;
/** Tag before raw float32 weights. */
export const NCNN_TAG_FP32 = 0x00000000;
/** ncnn writes array parameters as key -23300 - id. */
const ARRAY_KEY_BASE = -23300;

export interface NcnnLayer {
  type: string;
  name: string;
  bottoms: string[];
  tops: string[];
  /** Parameter id → value (a number, or a number array for array parameters). */
  params: Map<number, number | number[]>;
  /** 1-based line in the .param file, for error messages. */
  line: number;
}

export interface NcnnConvWeights {
  /** The layer's weights in ncnn's order, [out][in][kh][kw], as float32 (decoded from fp16 when tagged so). */
  weights: Float32Array;
  /** True when they were stored as fp16. */
  fp16: boolean;
  bias?: Float32Array;
}

export interface NcnnNormWeights {
  gamma: Float32Array;
  beta: Float32Array;
}

export interface NcnnModel {
  layers: NcnnLayer[];
  /** Weights of the layers that have any, by layer name. */
  conv: Map<string, NcnnConvWeights>;
  norm: Map<string, NcnnNormWeights>;
}

/** An integer parameter with ncnn's default when absent. */
export function intParam(layer: NcnnLayer, id: number, fallback: number): number {
  const value = layer.params.get(id);
  if (value === undefined) return fallback;
  if (Array.isArray(value))
    throw new StyleModelError(
      undefined,
      `.param line ${layer.line}: parameter ${id} of ${layer.type} "${layer.name}" is an array, expected a number`,
    );
  return value;
}

/** Parses the text .param format (magic, counts, then one layer a line). */
export function parseNcnnParam(text: string, file = '.param'): NcnnLayer[] {
  const lines = text.split(/\r?\n/);
  const fail = (line: number, message: string): never => {
    throw new StyleModelError(file, `line ${line}: ${message}`);
  };
  if (Number(lines[0]?.trim()) !== NCNN_MAGIC)
    fail(1, `not an ncnn .param file (the first line must be ${NCNN_MAGIC})`);
  const counts = (lines[1] ?? '').trim().split(/\s+/).map(Number);
  const layerCount = counts[0];
  if (counts.length < 2 || !Number.isInteger(layerCount) || layerCount! < 1)
    fail(2, 'expected "<layer count> <blob count>"');
  const layers: NcnnLayer[] = [];
  for (let i = 2; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const tokens = raw.split(/\s+/);
    const [type, name, bottomText, topText] = tokens;
    const bottomCount = Number(bottomText);
    const topCount = Number(topText);
    if (
      !type ||
      !name ||
      !Number.isInteger(bottomCount) ||
      !Number.isInteger(topCount) ||
      tokens.length < 4 + bottomCount + topCount
    ) {
      fail(i + 1, 'expected "<type> <name> <bottom count> <top count> <bottoms…> <tops…> <key=value…>"');
    }
    const bottoms = tokens.slice(4, 4 + bottomCount);
    const tops = tokens.slice(4 + bottomCount, 4 + bottomCount + topCount);
    const params = new Map<number, number | number[]>();
    for (const pair of tokens.slice(4 + bottomCount + topCount)) {
      const match = /^(-?\d+)=(.*)$/.exec(pair);
      if (!match) fail(i + 1, `bad parameter "${pair}"`);
      const key = Number(match![1]);
      const value = match![2]!;
      if (key <= ARRAY_KEY_BASE) {
        const [count, ...items] = value.split(',').map(Number);
        if (!Number.isInteger(count) || items.length !== count || items.some((n) => !Number.isFinite(n)))
          fail(i + 1, `bad array parameter "${pair}"`);
        params.set(ARRAY_KEY_BASE - key, items);
      } else {
        const n = Number(value);
        if (!Number.isFinite(n)) fail(i + 1, `bad parameter value "${pair}"`);
        params.set(key, n);
      }
    }
    layers.push({ type: type!, name: name!, bottoms, tops, params, line: i + 1 });
  }
  if (layers.length !== layerCount) fail(2, `declares ${layerCount} layers but lists ${layers.length}`);
  return layers;
}

/** IEEE 754 half → float, for every value (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A lookup table from all 65536 half values to float32: decoding a model is then one array read per weight. */
let halfTable: Float32Array | undefined;
function halfLookup(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/** Reads the .bin in .param order; every byte must be consumed. */
export function readNcnnBin(layers: NcnnLayer[], bin: Uint8Array, file = '.bin'): Pick<NcnnModel, 'conv' | 'norm'> {
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  let offset = 0;
  const need = (bytes: number, what: string) => {
    if (offset + bytes > bin.byteLength) {
      throw new StyleModelError(
        file,
        `truncated: ${what} needs ${bytes} bytes at offset ${offset}, ` +
          `but the file has ${bin.byteLength} bytes (the .param expects more weights)`,
      );
    }
  };
  const floats = (count: number, what: string): Float32Array => {
    need(count * 4, what);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + i * 4, true);
    offset += count * 4;
    return out;
  };
  const conv = new Map<string, NcnnConvWeights>();
  const norm = new Map<string, NcnnNormWeights>();
  for (const layer of layers) {
    const where = `${layer.type} "${layer.name}" (.param line ${layer.line})`;
    if (layer.type === 'Convolution') {
      const count = intParam(layer, 6, 0);
      const outputs = intParam(layer, 0, 0);
      if (count <= 0 || outputs <= 0)
        throw new StyleModelError(file, `${where} has no weight count (6=) or outputs (0=)`);
      need(4, `the weight tag of ${where}`);
      const tag = view.getUint32(offset, true);
      offset += 4;
      let weights: Float32Array;
      let fp16 = false;
      if (tag === NCNN_TAG_FP16) {
        const bytes = Math.ceil((count * 2) / 4) * 4; // fp16 data is padded to 4 bytes
        need(bytes, `the ${count} fp16 weights of ${where}`);
        const table = halfLookup();
        weights = new Float32Array(count);
        for (let i = 0; i < count; i++) weights[i] = table[view.getUint16(offset + i * 2, true)]!;
        offset += bytes;
        fp16 = true;
      } else if (tag === NCNN_TAG_FP32) {
        weights = floats(count, `the ${count} float32 weights of ${where}`);
      } else {
        throw new StyleModelError(
          file,
          `${where}: unsupported weight tag 0x${tag.toString(16).padStart(8, '0')} at offset ${offset - 4}`,
          `0x${NCNN_TAG_FP16.toString(16).padStart(8, '0')} (fp16) or 0x00000000 (float32)`,
        );
      }
      const bias = intParam(layer, 5, 0) ? floats(outputs, `the ${outputs} biases of ${where}`) : undefined;
      conv.set(layer.name, { weights, fp16, ...(bias ? { bias } : {}) });
    } else if (layer.type === 'InstanceNorm') {
      const channels = intParam(layer, 0, 0);
      if (intParam(layer, 2, 1)) {
        const gamma = floats(channels, `the ${channels} gammas of ${where}`);
        const beta = floats(channels, `the ${channels} betas of ${where}`);
        norm.set(layer.name, { gamma, beta });
      }
    }
  }
  if (offset !== bin.byteLength) {
    throw new StyleModelError(
      file,
      `has ${bin.byteLength - offset} bytes more than the .param describes (${offset} expected): ` +
        'it belongs to another model',
    );
  }
  return { conv, norm };
}

/** Reads `<name>.param` and the `<name>.bin` beside it. */
export async function loadNcnnModel(paramPath: string): Promise<NcnnModel> {
  const binPath = paramPath.replace(/\.param$/, '') + '.bin';
  let text: string;
  let bin: Uint8Array;
  try {
    text = await readFile(paramPath, 'utf8');
  } catch (error) {
    throw new StyleModelError(
      paramPath,
      `cannot read the .param file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    bin = await readFile(binPath);
  } catch (error) {
    throw new StyleModelError(
      binPath,
      'cannot read the weights next to the .param file: ' +
        ((error as NodeJS.ErrnoException).code ?? (error as Error).message),
    );
  }
  const layers = parseNcnnParam(text, paramPath);
  return { layers, ...readNcnnBin(layers, bin, binPath) };
}
