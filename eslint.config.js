import js from "@eslint/js";
import tseslint from "typescript-eslint";

// The pure core and its boundary (provider/core/README.md). `no-restricted-imports` sees only the
// specifier text, so escapes are recognised by how many `../` a file at a given depth needs to leave
// its folder: one block per depth, each carrying the rule's whole option set (options do not merge
// across blocks). Specifiers must be normalized (`../x`, not `./a/../../x`) so this stays exact.
const DEPTHS = [0, 1, 2, 3, 4];
const CODE = "{ts,mts,cts,js,mjs,cjs}";
const up = (n) => `^(\\.\\./){${n}}`;
const dirs = (d) => (d === 0 ? "" : "*/".repeat(d));

const NOT_NORMALIZED = {
  regex: "(^|/)(?!\\.\\.(/|$))[^/]+/\\.\\.(/|$)",
  caseSensitive: true,
  message:
    "Relative imports must be written in normalized form (only leading `../` segments, as in `../model/pool.ts`), because the core-boundary rules check the path text; write the shortest relative path to the file.",
};
const CORE_IO = {
  regex:
    "^(node:)?(fs|fs/promises|net|dgram|child_process|http|https|http2|tls|dns|os|process|worker_threads|cluster|module|readline|perf_hooks|timers|timers/promises)(/.*)?$",
  caseSensitive: true,
  message:
    "provider/core/ is pure and must not use Node modules that do I/O or read the process, host or clock; take the data as a parameter and do the I/O in provider/cli, provider/components, provider/dynamic or runtime/.",
};
const CORE_FRAMEWORKS = {
  regex: "^@(pulumi|kubernetes)/",
  caseSensitive: true,
  message:
    "provider/core/ must not import @pulumi/* or @kubernetes/*; describe the object with the core's own types and convert at the edge (provider/components, provider/dynamic or runtime/).",
};
const coreEscape = (d) => ({
  regex: up(d + 1),
  caseSensitive: true,
  message:
    "provider/core/ imports nothing outside provider/core/; move the pure code you need into provider/core/, or invert the dependency so the caller outside the core passes it in.",
});
const runtimeReachesProvider = (d) => ({
  regex: `${up(d + 1)}provider(/(?!core(/|$))|$)`,
  caseSensitive: true,
  message:
    "runtime/ reaches provider/ only through provider/core/; import the pure piece from provider/core/ (move it there if it is pure), and never from the Pulumi side (provider/components, provider/dynamic, provider/cli, provider/index.ts).",
});
const RUNTIME_SELF = {
  regex: "^l2lb(/|$)",
  caseSensitive: true,
  message:
    "runtime/ must not import the l2lb package by name, since that is the Pulumi side; import what it needs from provider/core/ by relative path.",
};

const boundaries = [
  ...DEPTHS.map((d) => ({
    name: `l2lb/core-boundary/depth-${d}`,
    files: [`provider/core/${dirs(d)}*.${CODE}`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [coreEscape(d), CORE_IO, CORE_FRAMEWORKS, NOT_NORMALIZED] }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportExpression",
          message:
            "provider/core/ must not use dynamic import(), because loading modules at run time is I/O and escapes the boundary check; use a static import of a module inside provider/core/.",
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: "provider/core/ must not read the clock (new Date()); take the time as a parameter from the caller.",
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["process", "fetch", "performance", "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval"].map((name) => ({
          name,
          message: `provider/core/ is pure and must not use the global \`${name}\` (process, network or timers); take what you need as a parameter and do it at the edge.`,
        })),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "provider/core/ must not read the clock (Date.now()); take the time as a parameter from the caller." },
        { object: "Math", property: "random", message: "provider/core/ is deterministic and must not use Math.random(); derive choices from the input (e.g. a stable hash)." },
      ],
    },
  })),
  // Tests of the core may read fixtures (node:fs) but still import nothing outside the core.
  ...DEPTHS.map((d) => ({
    name: `l2lb/core-boundary/tests-depth-${d}`,
    files: [`provider/core/${dirs(d)}*.test.${CODE}`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [coreEscape(d), CORE_FRAMEWORKS, NOT_NORMALIZED] }],
      "no-restricted-syntax": "off",
      "no-restricted-globals": "off",
      "no-restricted-properties": "off",
    },
  })),
  ...DEPTHS.map((d) => ({
    name: `l2lb/runtime-boundary/depth-${d}`,
    files: [`runtime/${dirs(d)}*.${CODE}`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [runtimeReachesProvider(d), RUNTIME_SELF, NOT_NORMALIZED] }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportExpression[source.value=/provider/]",
          message:
            "runtime/ must not load provider/ code with dynamic import(); use a static import from provider/core/ so the boundary rule can check it.",
        },
      ],
    },
  })),
];

export default tseslint.config(
  { ignores: ["dist/**", "docs/**", "node_modules/**", "examples/**/node_modules/**", "examples/**/bin/**", "**/*.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", URL: "readonly", setImmediate: "readonly", structuredClone: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  ...boundaries,
);
