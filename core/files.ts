/** File I/O for data files (producers write them, the trainer reads them): fast line reading and buffered writing with back-pressure. */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { access, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { UserInputError } from './errors.ts';

export interface LineChunk {
  /** 1-based line number of lines[0]. */
  firstLine: number;
  lines: string[];
}

/** Reads a text file as chunks of lines (no trailing newline, no \r), ~1 MB at a time. Empty lines are kept. */
export async function* readLines(path: string): AsyncGenerator<LineChunk> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let rest = '';
  let lineNo = 1;
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = rest + chunk;
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i] as string;
      if (l.endsWith('\r')) lines[i] = l.slice(0, -1);
    }
    yield { firstLine: lineNo, lines };
    lineNo += lines.length;
  }
  if (rest.length > 0) yield { firstLine: lineNo, lines: [rest.endsWith('\r') ? rest.slice(0, -1) : rest] };
}

export async function requireFile(path: string, flag: string): Promise<void> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new UserInputError(`${flag} ${path}: not a regular file`);
  } catch (err) {
    if (err instanceof UserInputError) throw err;
    throw new UserInputError(`${flag} ${path}: no such file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Buffered line writer into `path.partial`, renamed to `path` on commit: an interrupted run never leaves a
 * file that looks complete.
 */
export class LineWriter {
  private readonly stream: WriteStream;
  private buf: string[] = [];
  private bufChars = 0;
  private readonly tmp: string;
  private error: Error | undefined;
  lines = 0;

  constructor(private readonly path: string) {
    this.tmp = `${path}.partial`;
    this.stream = createWriteStream(this.tmp, { encoding: 'utf8' });
    this.stream.on('error', (err) => {
      this.error = err;
    });
  }

  /** Resolves at once unless the buffer had to be flushed into a full stream. */
  write(line: string): Promise<void> | undefined {
    this.buf.push(line);
    this.bufChars += line.length + 1;
    this.lines++;
    return this.bufChars >= 1 << 20 ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    if (this.error) throw new UserInputError(`cannot write ${this.path}: ${this.error.message}`, { cause: this.error });
    if (this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    this.bufChars = 0;
    if (!this.stream.write(text)) await once(this.stream, 'drain');
  }

  async commit(): Promise<void> {
    await this.flush();
    this.stream.end();
    if (!this.stream.writableFinished) await once(this.stream, 'finish');
    if (this.error) throw new UserInputError(`cannot write ${this.path}: ${this.error.message}`, { cause: this.error });
    await rename(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tmp, { force: true });
  }
}
