import * as tf from '@tensorflow/tfjs';
import { ErrorCodes, FraudstreamError, UserInputError } from '../../core/errors.ts';
import { heavyBackend } from './backend.ts';
import { Normaliser, type NormaliserJson } from './normaliser.ts';
import { rocAuc } from './auc.ts';

/** A feature vector in the fixed order of featureNames (detectors/types.ts FeatureVector, or plain numbers). */
export type Vec = Float64Array | ArrayLike<number>;

export const HeavyArchs = ['gru', 'steps'] as const;
export type HeavyArch = (typeof HeavyArchs)[number];
export const HeavyLosses = ['focal', 'weighted-bce'] as const;
export type HeavyLoss = (typeof HeavyLosses)[number];

export interface HeavyValidation {
  sequences: Vec[][];
  currents: Vec[];
  labels: number[];
}

export interface HeavyEpochLogs {
  loss: number;
  valLoss?: number;
  valAuc?: number;
  /** Seconds since training started. */
  seconds: number;
}

export interface TrainHeavyInput {
  /** sequences[i]: the card's transactions before currents[i], oldest first; any length (the last k are used). */
  sequences: Vec[][];
  currents: Vec[];
  labels: number[];
  featureNames: string[];
  k: number;
  epochs?: number;
  batchSize?: number;
  /** With validation, the weights of the epoch with the best validation ROC-AUC are kept, and training stops after `patience` epochs without improvement. */
  validation?: HeavyValidation;
  patience?: number;
  onProgress?: (epoch: number, logs: HeavyEpochLogs) => void;
  arch?: HeavyArch;
  /** GRU units, or per-step dense units for `steps`. */
  units?: number;
  loss?: HeavyLoss;
  /** Focal loss focusing parameter. */
  gamma?: number;
  /** Positive-class weight for weighted-bce; defaults to negatives/positives, capped at 100. Scores are corrected back to the base rate. */
  positiveWeight?: number;
  learningRate?: number;
  /** Seeds the weight initialisers (batch order still uses Math.random). */
  seed?: number;
}

export interface HeavyTrainingSummary {
  arch: HeavyArch;
  units: number;
  loss: HeavyLoss;
  gamma?: number;
  positiveWeight?: number;
  rows: number;
  positives: number;
  epochsRun: number;
  bestEpoch: number;
  bestValAuc?: number;
  trainSeconds: number;
  backend: string;
}

export interface HeavyMeta {
  format: 'fraudstream-heavy/1';
  k: number;
  featureNames: string[];
  normaliser: NormaliserJson;
  training: HeavyTrainingSummary;
}

export const HEAVY_DEFAULTS = {
  epochs: 12,
  batchSize: 256,
  patience: 3,
  arch: 'steps' as HeavyArch,
  units: 16,
  loss: 'weighted-bce' as HeavyLoss,
  gamma: 2,
  learningRate: 0.005,
  seed: 7,
};

export interface HeavyItem {
  history: Vec[];
  current: Vec;
}

/**
 * Encodes items into the two model inputs. The history is left-padded to k so the newest transaction always sits
 * at the last step; each step carries a mask channel (1 = real, 0 = padding), and the current vector carries the
 * history length / k, so "no history" is visible to both branches rather than looking like an average card.
 */
export function encode(items: readonly HeavyItem[], k: number, norm: Normaliser): { seq: Float32Array; cur: Float32Array } {
  const d = norm.dim;
  const step = d + 1;
  const seq = new Float32Array(items.length * k * step);
  const cur = new Float32Array(items.length * step);
  for (let i = 0; i < items.length; i++) {
    const { history, current } = items[i]!;
    checkDim(current, d, () => `item ${i}: current`);
    const used = Math.min(history.length, k);
    const pad = k - used;
    const first = history.length - used;
    for (let t = 0; t < used; t++) {
      const v = history[first + t]!;
      checkDim(v, d, () => `item ${i}: history[${first + t}]`);
      const off = (i * k + pad + t) * step;
      norm.writeInto(v, seq, off);
      seq[off + d] = 1;
    }
    norm.writeInto(current, cur, i * step);
    cur[i * step + d] = used / k;
  }
  return { seq, cur };
}

function checkDim(v: Vec | undefined, d: number, where: () => string): void {
  if (!v || v.length !== d) {
    throw new FraudstreamError(ErrorCodes.BAD_INPUT, `${where()} has ${v?.length ?? 'no'} features; the heavy model expects ${d} (its featureNames)`);
  }
}

export class HeavyModel {
  readonly k: number;
  readonly featureNames: readonly string[];
  readonly meta: HeavyMeta;
  private readonly norm: Normaliser;
  private net: tf.LayersModel | undefined;

  constructor(net: tf.LayersModel, meta: HeavyMeta) {
    this.net = net;
    this.meta = meta;
    this.k = meta.k;
    this.featureNames = Object.freeze([...meta.featureNames]);
    this.norm = new Normaliser(meta.normaliser);
    const seqShape = net.inputs[0]?.shape;
    const curShape = net.inputs[1]?.shape;
    if (seqShape?.[1] !== this.k || seqShape?.[2] !== this.norm.dim + 1 || curShape?.[1] !== this.norm.dim + 1) {
      throw new FraudstreamError(
        ErrorCodes.BAD_INPUT,
        `heavy model inputs ${JSON.stringify([seqShape, curShape])} do not match k=${this.k} and ${this.norm.dim} features`,
      );
    }
  }

  /** Fraud probability per item, in order. One forward pass for the whole batch; no tensors outlive the call. */
  async predict(items: ReadonlyArray<HeavyItem>): Promise<number[]> {
    return this.predictSync(items);
  }

  predictSync(items: ReadonlyArray<HeavyItem>): number[] {
    const net = this.live();
    if (items.length === 0) return [];
    const { seq, cur } = encode(items, this.k, this.norm);
    const step = this.norm.dim + 1;
    const out = tf.tidy(() => {
      const y = net.predict([tf.tensor3d(seq, [items.length, this.k, step]), tf.tensor2d(cur, [items.length, step])]) as tf.Tensor;
      return y.dataSync();
    });
    // Weighting positives by w multiplies the learned odds by w; dividing it back out returns a probability
    // on the training base rate (same ranking, so AUC and thresholds-by-rank are unaffected).
    const w = this.meta.training.loss === 'weighted-bce' ? (this.meta.training.positiveWeight ?? 1) : 1;
    return Array.from(out, (p) => (w === 1 ? p : p / (p + w * (1 - p))));
  }

  /** Writes model.json + weights.bin + normaliser.json into dir (created if missing). */
  async save(dir: string): Promise<void> {
    const { saveHeavyArtifacts } = await import('./io.ts');
    await saveHeavyArtifacts(this.live(), this.meta, dir);
  }

  dispose(): void {
    this.net?.dispose();
    this.net = undefined;
  }

  /** The underlying tfjs model, for callers that need it (e.g. a summary). */
  get network(): tf.LayersModel {
    return this.live();
  }

  private live(): tf.LayersModel {
    if (!this.net) throw new FraudstreamError(ErrorCodes.INTERNAL, 'heavy model used after dispose()');
    return this.net;
  }
}

function buildNetwork(k: number, d: number, arch: HeavyArch, units: number, prior: number, seed: number): tf.LayersModel {
  const step = d + 1;
  const seqIn = tf.input({ shape: [k, step], name: 'history' });
  const curIn = tf.input({ shape: [step], name: 'current' });
  const glorot = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  let seqOut: tf.SymbolicTensor;
  if (arch === 'gru') {
    seqOut = tf.layers
      .gru({ units, name: 'history_gru', kernelInitializer: glorot(1), recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 2 }) })
      .apply(seqIn) as tf.SymbolicTensor;
  } else {
    // Per-step dense (a width-1 convolution) then flatten: position-aware, all matmuls, and trainable on wasm,
    // which lacks the Conv2D gradient kernels that tf.layers.conv1d needs.
    const perStep = tf.layers
      .timeDistributed({ layer: tf.layers.dense({ units, activation: 'relu', kernelInitializer: glorot(1) }), name: 'history_step' })
      .apply(seqIn) as tf.SymbolicTensor;
    seqOut = tf.layers.flatten({ name: 'history_flat' }).apply(perStep) as tf.SymbolicTensor;
  }
  const curOut = tf.layers
    .dense({ units: 16, activation: 'relu', name: 'current_dense', kernelInitializer: glorot(3) })
    .apply(curIn) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate({ name: 'joined' }).apply([seqOut, curOut]) as tf.SymbolicTensor;
  const hidden = tf.layers.dense({ units: 16, activation: 'relu', name: 'hidden', kernelInitializer: glorot(4) }).apply(joined) as tf.SymbolicTensor;
  // Start the output at the base rate (as in the focal loss paper) so early epochs are not spent unlearning 0.5.
  const p = Math.min(Math.max(prior, 1e-4), 1 - 1e-4);
  const out = tf.layers
    .dense({
      units: 1,
      activation: 'sigmoid',
      name: 'fraud_probability',
      kernelInitializer: glorot(5),
      biasInitializer: tf.initializers.constant({ value: Math.log(p / (1 - p)) }),
    })
    .apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: [seqIn, curIn], outputs: out, name: 'fraudstream_heavy' });
}

const EPS = 1e-6;

/** Mean focal loss (Lin et al. 2017) without the alpha term: class balance is left to the gamma focusing. */
export function focalLoss(gamma: number) {
  return (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const p = tf.clipByValue(yPred, EPS, 1 - EPS);
      const pt = tf.add(tf.mul(yTrue, p), tf.mul(tf.sub(1, yTrue), tf.sub(1, p)));
      return tf.mean(tf.mul(tf.neg(tf.pow(tf.sub(1, pt), gamma)), tf.log(pt)));
    });
}

export function weightedBce(positiveWeight: number) {
  return (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const p = tf.clipByValue(yPred, EPS, 1 - EPS);
      const pos = tf.mul(tf.mul(yTrue, tf.log(p)), positiveWeight);
      const neg = tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p)));
      return tf.neg(tf.mean(tf.add(pos, neg)));
    });
}

function validateSet(name: string, sequences: Vec[][], currents: Vec[], labels: number[], d: number): void {
  if (!Array.isArray(sequences) || !Array.isArray(currents) || !Array.isArray(labels)) {
    throw new UserInputError(`${name}: sequences, currents and labels must be arrays`);
  }
  if (sequences.length !== currents.length || labels.length !== currents.length) {
    throw new UserInputError(
      `${name}: sequences (${sequences.length}), currents (${currents.length}) and labels (${labels.length}) must have the same length`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new UserInputError(`${name}: labels[${i}] is ${labels[i]}; labels must be 0 or 1`);
    if (currents[i]?.length !== d) throw new UserInputError(`${name}: currents[${i}] has ${currents[i]?.length} features; featureNames has ${d}`);
    const seq = sequences[i];
    if (!Array.isArray(seq)) throw new UserInputError(`${name}: sequences[${i}] must be an array of feature vectors (may be empty)`);
    for (let t = 0; t < seq.length; t++) {
      if (seq[t]?.length !== d) throw new UserInputError(`${name}: sequences[${i}][${t}] has ${seq[t]?.length} features; featureNames has ${d}`);
    }
  }
}

function toItems(sequences: Vec[][], currents: Vec[]): HeavyItem[] {
  return currents.map((current, i) => ({ history: sequences[i]!, current }));
}

/** Trains the sequence model. Call from anywhere: it initialises the TensorFlow.js backend itself. */
export async function trainHeavy(input: TrainHeavyInput): Promise<HeavyModel> {
  const backend = await heavyBackend();
  const started = performance.now();
  const { featureNames, k, labels } = input;
  if (!Array.isArray(featureNames) || featureNames.length === 0) throw new UserInputError('featureNames must list at least one feature');
  if (!Number.isInteger(k) || k < 1 || k > 256) throw new UserInputError(`k=${k}: the history length must be an integer from 1 to 256`);
  const d = featureNames.length;
  validateSet('training', input.sequences, input.currents, labels, d);
  if (input.validation) validateSet('validation', input.validation.sequences, input.validation.currents, input.validation.labels, d);
  const positives = labels.reduce((s, y) => s + y, 0);
  if (positives === 0 || positives === labels.length) {
    throw new UserInputError(`training labels need both classes; got ${positives} positives of ${labels.length}`);
  }

  const o = { ...HEAVY_DEFAULTS, ...definedOnly(input) };
  if (!(HeavyArchs as readonly string[]).includes(o.arch)) throw new UserInputError(`arch=${o.arch}: use one of ${HeavyArchs.join(', ')}`);
  if (!(HeavyLosses as readonly string[]).includes(o.loss)) throw new UserInputError(`loss=${o.loss}: use one of ${HeavyLosses.join(', ')}`);
  for (const key of ['epochs', 'batchSize', 'units', 'patience'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new UserInputError(`${key}=${o[key]}: must be a positive integer`);
  }
  const positiveWeight = input.positiveWeight ?? Math.min(100, (labels.length - positives) / positives);

  const norm = Normaliser.fit(input.currents, featureNames);
  const step = d + 1;
  const n = labels.length;
  const train = encode(toItems(input.sequences, input.currents), k, norm);
  const net = buildNetwork(k, d, o.arch, o.units, positives / n, o.seed);
  net.compile({
    optimizer: tf.train.adam(o.learningRate),
    loss: o.loss === 'focal' ? focalLoss(o.gamma) : weightedBce(positiveWeight),
  });

  const xs = [tf.tensor3d(train.seq, [n, k, step]), tf.tensor2d(train.cur, [n, step])];
  const ys = tf.tensor2d(Float32Array.from(labels), [n, 1]);
  const val = input.validation;
  const valEnc = val && val.labels.length > 0 ? encode(toItems(val.sequences, val.currents), k, norm) : undefined;
  const valXs = valEnc && val ? [tf.tensor3d(valEnc.seq, [val.labels.length, k, step]), tf.tensor2d(valEnc.cur, [val.labels.length, step])] : undefined;
  const valYs = valXs && val ? tf.tensor2d(Float32Array.from(val.labels), [val.labels.length, 1]) : undefined;
  const valHasBoth = val ? new Set(val.labels).size === 2 : false;

  let best: { epoch: number; auc: number; weights: tf.Tensor[] } | undefined;
  let epochsRun = 0;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const h = await net.fit(xs, ys, {
        epochs: 1,
        batchSize: o.batchSize,
        shuffle: true,
        verbose: 0,
        ...(valXs && valYs ? { validationData: [valXs, valYs] as [tf.Tensor[], tf.Tensor] } : {}),
      });
      epochsRun = epoch;
      const logs: HeavyEpochLogs = { loss: lastOf(h.history.loss), seconds: (performance.now() - started) / 1000 };
      if (h.history.val_loss) logs.valLoss = lastOf(h.history.val_loss);
      if (valXs && val && valHasBoth) {
        const scores = tf.tidy(() => (net.predict(valXs) as tf.Tensor).dataSync());
        logs.valAuc = rocAuc(Array.from(scores), val.labels);
        if (!best || logs.valAuc > best.auc) {
          best?.weights.forEach((w) => w.dispose());
          best = { epoch, auc: logs.valAuc, weights: net.getWeights().map((w) => w.clone()) };
        }
      }
      input.onProgress?.(epoch, logs);
      if (best && epoch - best.epoch >= o.patience) break;
    }
    if (best) net.setWeights(best.weights);
  } finally {
    best?.weights.forEach((w) => w.dispose());
    tf.dispose([...xs, ys, ...(valXs ?? []), ...(valYs ? [valYs] : [])]);
  }

  const training: HeavyTrainingSummary = {
    arch: o.arch,
    units: o.units,
    loss: o.loss,
    ...(o.loss === 'focal' ? { gamma: o.gamma } : { positiveWeight }),
    rows: n,
    positives,
    epochsRun,
    bestEpoch: best?.epoch ?? epochsRun,
    ...(best ? { bestValAuc: best.auc } : {}),
    trainSeconds: (performance.now() - started) / 1000,
    backend,
  };
  return new HeavyModel(net, { format: 'fraudstream-heavy/1', k, featureNames: [...featureNames], normaliser: norm.toJSON(), training });
}

function lastOf(xs: Array<number | tf.Tensor>): number {
  const v = xs[xs.length - 1];
  return typeof v === 'number' ? v : v ? v.dataSync()[0]! : NaN;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
