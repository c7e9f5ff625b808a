// A worker thread runs plain Node: register tsx's loader first, then the TypeScript entry (detectors/heavy/threaded.ts).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
