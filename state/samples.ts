/** Scored samples (router/samples.ts): one list `<prefix>samples`, newest first, capped at SAMPLES_CAPACITY by default. */
export const SAMPLES_CAPACITY = 5_000;

export const samplesKey = (prefix: string): string => `${prefix}samples`;
