// Slims the speaker image's production node_modules in place (the image's build stage runs it:
// `node runtime/image/slim.ts <node_modules>`). Two steps, neither of which changes code:
// - files Node never loads are removed: type declarations, source maps, TypeScript sources,
//   Markdown, and the `@types` packages (a production dependency of the Kubernetes client);
// - JavaScript files above 64 KiB are printed again without their comments by TypeScript's
//   printer, which re-emits the parsed syntax tree unchanged: the Kubernetes client's generated
//   API code is mostly JSDoc (its 25 MB of JavaScript become about 9 MB), and V8 keeps the source
//   of every loaded module in memory.
// Prints the bytes before and after.
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const DROPPED = /(\.d\.[cm]?ts|\.[cm]?ts|\.map|\.md|\.markdown)$/i;
const JAVASCRIPT = /\.[cm]?js$/;
const REPRINT_ABOVE = 64 << 10;

/** Every file under `dir`, recursively (symbolic links are not followed). */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return files(path);
    return e.isFile() ? [path] : [];
  });
}

/** The source without its comments, or undefined when it does not parse (then it is kept as it is). */
function withoutComments(path: string, source: string): string | undefined {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const diagnostics = (file as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics ?? [];
  if (diagnostics.length > 0) return undefined;
  const shebang = source.startsWith("#!") ? `${source.slice(0, source.indexOf("\n") + 1)}` : "";
  const printed = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed }).printFile(file);
  return printed.startsWith("#!") ? printed : shebang + printed;
}

function slim(modules: string): { before: number; after: number } {
  const before = files(modules).reduce((sum, path) => sum + statSync(path).size, 0);
  let after = 0;
  rmSync(join(modules, "@types"), { recursive: true, force: true });
  for (const path of files(modules)) {
    const size = statSync(path).size;
    if (DROPPED.test(path)) {
      rmSync(path);
      continue;
    }
    if (JAVASCRIPT.test(path) && size > REPRINT_ABOVE) {
      const printed = withoutComments(path, readFileSync(path, "utf8"));
      if (printed !== undefined && printed.length < size) {
        writeFileSync(path, printed);
        after += Buffer.byteLength(printed);
        continue;
      }
    }
    after += size;
  }
  return { before, after };
}

const modules = process.argv[2];
if (modules === undefined) {
  process.stderr.write("usage: node runtime/image/slim.ts <node_modules directory>\n");
  process.exit(2);
}
const { before, after } = slim(modules);
process.stdout.write(`${modules}: ${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB\n`);
