/**
 * Merges calls made in the same turn of the event loop into one call of the underlying batch function. The
 * stages decide partitions concurrently, so several small batches reach an expensive batched call (the heavy
 * model: a TF.js predict costs about the same for 2 rows as for 50) within one turn; one call for all of them costs
 * a fraction of one call each, and is one message to the heavy model's worker thread (one stall of the event loop
 * where the model scores on the main thread, HEAVY_THREAD=main) instead of one per partition.
 *
 * Calls are grouped by `group` (e.g. the model version object, which a hot swap replaces): rows of different
 * groups never share a call. When a merged call fails, each caller's rows are run again alone, so an error reaches
 * only the caller whose rows cause it (the runner then isolates the bad row in that batch).
 */
export function coalesce<G, I, O>(run: (group: G, items: I[]) => Promise<O[]>): (group: G, items: I[]) => Promise<O[]> {
  let queue: Array<{ group: G; items: I[]; resolve: (o: O[]) => void; reject: (e: unknown) => void }> = [];
  const flush = () => {
    const calls = queue;
    queue = [];
    const groups = new Map<G, typeof calls>();
    for (const c of calls) {
      const list = groups.get(c.group);
      if (list) list.push(c);
      else groups.set(c.group, [c]);
    }
    for (const [group, list] of groups) {
      // A synchronous throw becomes a rejection; a result of the wrong length is an error, not a misaligned answer.
      const call = (items: I[]) =>
        Promise.resolve()
          .then(() => run(group, items))
          .then((out) => {
            if (out.length !== items.length) throw new Error(`coalesced call returned ${out.length} results for ${items.length} items`);
            return out;
          });
      if (list.length === 1) {
        call(list[0]!.items).then(list[0]!.resolve, list[0]!.reject);
        continue;
      }
      const all = list.flatMap((c) => c.items);
      call(all).then(
        (out) => {
          let at = 0;
          for (const c of list) {
            c.resolve(out.slice(at, at + c.items.length));
            at += c.items.length;
          }
        },
        // One caller's bad row must not fail the others (each would dead-letter innocent rows after its retries):
        // on failure every caller runs alone, so only the one holding the bad row sees the error.
        () => {
          for (const c of list) call(c.items).then(c.resolve, c.reject);
        },
      );
    }
  };
  return (group, items) => {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<O[]>((resolve, reject) => {
      if (queue.length === 0) setImmediate(flush);
      queue.push({ group, items, resolve, reject });
    });
  };
}

