/**
 * The V8 flags every long-running fraudstream process starts with (the stages, the console, demo, bench, chaos's
 * children, the Docker image). Written out as text where a launcher cannot import this module (package.json scripts,
 * the bin's shebang, the Dockerfile); tests/core/node-flags.test.ts checks those copies against this list.
 *
 * --max-semi-space-size=64 (MB; V8's default tops out at 16 on 64-bit): a stage allocates short-lived objects at a high
 * rate (parsed transactions, feature vectors, decisions, kafkajs buffers), and with the small default young generation
 * each scavenge copies objects that would have died a moment later. Measured by `npm run bench` (the pipeline side,
 * burst of 20,000, same model): GC 28.6 -> 19.8 µs and process CPU 187 -> 166 µs per event, 5,688 -> 6,932 events/s.
 * The cost is up to 3 x 64 MB more young-generation memory per process when it is busy.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
