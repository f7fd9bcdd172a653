// Fakes for the CLI tests.
import type { PlanIo } from "./plan.ts";

/** An in-memory file system for the commands. */
export function memoryIo(files: Record<string, string>, stdin = ""): PlanIo {
  return {
    expand(path) {
      if (path in files) return [path];
      const inside = Object.keys(files).filter((f) => f.startsWith(`${path.replace(/\/$/, "")}/`)).sort();
      if (inside.length === 0) throw new Error(`${path} does not exist; pass an existing file or directory to -f.`);
      return inside;
    },
    readFile(path) {
      const t = files[path];
      if (t === undefined) throw new Error(`cannot read ${path}: ENOENT.`);
      return t;
    },
    readStdin: () => stdin,
  };
}
