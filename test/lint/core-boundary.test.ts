// The pure core's boundary (provider/core/README.md) is enforced by eslint.config.js; this test
// lints small snippets as if they sat in provider/core/ and runtime/, so the rules cannot be
// dropped or loosened without a failing test.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { ESLint } from "eslint";

const root = fileURLToPath(new URL("../../", import.meta.url));
const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, "eslint.config.js") });
const BOUNDARY = new Set(["no-restricted-imports", "no-restricted-syntax", "no-restricted-globals", "no-restricted-properties"]);

/** The boundary errors for `code` linted as the file `path` (relative to the repo), as `line:rule`. */
async function boundaryErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  assert.ok(result, `no lint result for ${path}`);
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${path} did not parse`);
  return result.messages.filter((m) => m.ruleId !== null && BOUNDARY.has(m.ruleId)).map((m) => `${m.line}:${m.ruleId}`);
}

describe("core boundary lint", () => {
  it("provider/core/ may import only inside provider/core/ and pure packages", async () => {
    const clean = [
      'import { parseRange } from "../ip/index.ts";',
      'import type { AddressPool } from "../model/pool.ts";',
      'import { parseAllDocuments } from "yaml";',
      'import { planAllocation } from "./index.ts";',
      "export const used = [parseRange, parseAllDocuments, planAllocation, new Date(0)] as unknown as AddressPool;",
    ].join("\n");
    assert.deepEqual(await boundaryErrors("provider/core/allocation/lint-probe.ts", clean), []);
  });

  it("provider/core/ may not leave the core, do I/O, read the clock or use Pulumi/Kubernetes", async () => {
    const bad = [
      'import { readFileSync } from "node:fs";',
      'import { hostname } from "os";',
      'import * as pulumi from "@pulumi/pulumi";',
      'import type * as k8s from "@kubernetes/client-node";',
      'import { Installation } from "../../components/installation.ts";',
      'import { engine } from "../../dynamic/engine.ts";',
      'import { parseRange } from "./x/../../ip/index.ts";',
      "export const a = [readFileSync, hostname, pulumi, Installation, engine, parseRange] as unknown as k8s.V1Service;",
      "export const b = [Date.now(), new Date(), process.env, Math.random()];",
      'export const c = import("./index.ts");',
    ].join("\n");
    const errors = await boundaryErrors("provider/core/allocation/lint-probe.ts", bad);
    for (const line of [1, 2, 3, 4, 5, 6, 7]) assert.ok(errors.includes(`${line}:no-restricted-imports`), `line ${line} not flagged: ${errors.join(", ")}`);
    assert.equal(errors.filter((e) => e.startsWith("9:")).length, 4, `clock/process/random on line 9: ${errors.join(", ")}`);
    assert.ok(errors.includes("10:no-restricted-syntax"), `dynamic import not flagged: ${errors.join(", ")}`);
  });

  it("tests inside provider/core/ may read fixtures but still not leave the core", async () => {
    const code = [
      'import { readFileSync } from "node:fs";',
      'import { Installation } from "../../components/installation.ts";',
      "export const a = [readFileSync, Installation, process.env];",
    ].join("\n");
    assert.deepEqual(await boundaryErrors("provider/core/manifests/lint-probe.test.ts", code), ["2:no-restricted-imports"]);
  });

  it("runtime/ reaches provider/ only through provider/core/", async () => {
    const clean = [
      'import { planAllocation } from "../../provider/core/allocation/index.ts";',
      'import { SPEAKER_NAME } from "../../provider/core/model/contract.ts";',
      'import { readFileSync } from "node:fs";',
      'import * as k8s from "@kubernetes/client-node";',
      "export const used = [planAllocation, SPEAKER_NAME, readFileSync, k8s];",
    ].join("\n");
    assert.deepEqual(await boundaryErrors("runtime/election/lint-probe.ts", clean), []);

    const bad = [
      'import { Installation } from "../../provider/components/installation.ts";',
      'import * as engine from "../../provider/dynamic/engine.ts";',
      'import * as root from "../../provider/index.ts";',
      'import * as l2lb from "l2lb";',
      'import { planAllocation } from "../../provider/core/../components/allocation.ts";',
      'export const used = [Installation, engine, root, l2lb, planAllocation, import("../../provider/cli/plan.ts")];',
    ].join("\n");
    assert.deepEqual(await boundaryErrors("runtime/election/lint-probe.ts", bad), [
      "1:no-restricted-imports",
      "2:no-restricted-imports",
      "3:no-restricted-imports",
      "4:no-restricted-imports",
      "5:no-restricted-imports",
      "6:no-restricted-syntax",
    ]);
  });
});
