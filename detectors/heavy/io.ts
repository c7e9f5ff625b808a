import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ErrorCodes, FraudstreamError } from '../../core/errors.ts';
import { heavyBackend } from './backend.ts';
import { HeavyModel, type HeavyMeta } from './model.ts';

export const HEAVY_FILES = { model: 'model.json', weights: 'weights.bin', meta: 'normaliser.json' } as const;

/**
 * tfjs's file:// handler lives in tfjs-node, which may be absent; these handlers write the same layout
 * (a standard layers-model model.json with a weightsManifest pointing at weights.bin) with node:fs, so the files
 * also load in tf.loadLayersModel over http or in tfjs-node.
 */
export async function saveHeavyArtifacts(net: tf.LayersModel, meta: HeavyMeta, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await net.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [HEAVY_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
      };
      // Write each file beside its final name, then rename: a reader never sees a half-written file.
      await writeAtomic(path.join(dir, HEAVY_FILES.weights), new Uint8Array(weightData));
      await writeAtomic(path.join(dir, HEAVY_FILES.meta), JSON.stringify(meta, null, 2) + '\n');
      await writeAtomic(path.join(dir, HEAVY_FILES.model), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

async function readOrExplain(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FraudstreamError(
      code === 'ENOENT' ? ErrorCodes.MODEL_NOT_FOUND : ErrorCodes.INTERNAL,
      `heavy model: cannot read ${file} (${code ?? String(err)}); a heavy model folder holds ${Object.values(HEAVY_FILES).join(', ')}`,
      { cause: err },
    );
  }
}

function parseJson(file: string, buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `heavy model: ${file} is not valid JSON`, { cause: err });
  }
}

/** Loads a folder written by HeavyModel.save. Initialises the TensorFlow.js backend if needed. */
export async function loadHeavy(dir: string): Promise<HeavyModel> {
  await heavyBackend();
  const modelFile = path.join(dir, HEAVY_FILES.model);
  const metaFile = path.join(dir, HEAVY_FILES.meta);
  const modelJson = parseJson(modelFile, await readOrExplain(modelFile)) as {
    modelTopology?: object;
    weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const meta = parseJson(metaFile, await readOrExplain(metaFile)) as HeavyMeta;
  if (meta?.format !== 'fraudstream-heavy/1' || !Array.isArray(meta.featureNames) || !meta.normaliser) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `heavy model: ${metaFile} is not a fraudstream-heavy/1 file`);
  }
  if (!modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `heavy model: ${modelFile} lacks modelTopology or weightsManifest`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) {
      // Paths in the manifest are relative to model.json; refuse anything that escapes the folder.
      const file = path.resolve(dir, p);
      if (path.dirname(file) !== path.resolve(dir)) throw new FraudstreamError(ErrorCodes.BAD_INPUT, `heavy model: weight path ${p} leaves ${dir}`);
      const buf = await readOrExplain(file);
      buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
    }
  }
  const net = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData: tf.io.CompositeArrayBuffer.join(buffers) }),
  );
  try {
    return new HeavyModel(net, meta);
  } catch (err) {
    net.dispose();
    throw err;
  }
}
