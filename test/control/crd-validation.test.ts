// The CRDs' apply-time checks (CEL `x-kubernetes-validations`) on a real kube-apiserver: the
// CRDs install (their rules' estimated cost is within the API server's limits), and pools and
// advertisements are accepted or refused exactly as the provider accepts or refuses them, with
// sentences naming the entry and the fix. One control plane, no nodes, no network namespaces:
// needs only the lab tools (test/lab/build-tools.sh); skips, saying why, without them, unless
// L2LB_LAB=1 demands the lab.
import { mulberry32 } from "../random.ts";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { API_GROUP, API_VERSION, KINDS } from "../../provider/core/model/contract.ts";
import { crds, MAX_POOL_ENTRIES, MAX_POOL_ENTRY_LENGTH, type JsonSchema } from "../../provider/core/model/crds.ts";
import { formatAddress, parseRange } from "../../provider/core/ip/index.ts";
import { root, run } from "./harness.ts";

const required = process.env["L2LB_LAB"] === "1";
const missing = (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing kubernetes etcd kwok`]))
  .split("\n")
  .filter((s) => s !== "");
const skipReason = missing.length > 0 ? `lab tools not built (${missing.join(", ")}); run test/lab/build-tools.sh` : undefined;
if (skipReason && required) throw new Error(`L2LB_LAB=1 but ${skipReason}`);

type Kind = "pool" | "advertisement";

/** Every rule of a schema, depth first. */
function rulesOf(schema: JsonSchema | undefined): string[] {
  if (!schema) return [];
  return [
    ...(schema["x-kubernetes-validations"] ?? []).map((r) => r.rule),
    ...Object.values(schema.properties ?? {}).flatMap(rulesOf),
    ...rulesOf(schema.items),
    ...rulesOf(schema.additionalProperties),
  ];
}



/** What parseRange says of one entry: undefined when accepted, else its sentence. */
function providerVerdict(entry: string): string | undefined {
  try {
    parseRange(entry);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("CRD apply-time validation on a real API server", { skip: skipReason ?? false, timeout: 600_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let kubeconfig: string;
  let custom: k8s.CustomObjectsApi;

  const kubectl = (...args: string[]): Promise<string> =>
    run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && exec "$L2LB_KUBERNETES_BIN/kubectl" --kubeconfig "$1" "\${@:2}"`, "-", kubeconfig, ...args]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "l2lb-crd-lab-"));
    env = { ...process.env, L2LB_LAB_DIR: join(dir, "lab") };
    await run("bash", [join(root, "test/lab/cluster.sh"), "up"], { env, timeoutMs: 300_000 });
    kubeconfig = join(dir, "lab", "kubeconfig");
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(kubeconfig);
    custom = admin.makeApiClient(k8s.CustomObjectsApi);
    // With kubectl, as users install them.
    const file = join(dir, "crds.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: crds }));
    await kubectl("apply", "-f", file);
    await kubectl("wait", "--for=condition=Established", "--timeout=60s", ...crds.map((c) => `crd/${c.metadata.name}`));
  });

  after(async () => {
    if (env) await run("bash", [join(root, "test/lab/cluster.sh"), "down"], { env }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Creates the object with dryRun=All; returns the refusal's causes (field → messages), empty when accepted. */
  async function submit(kind: Kind, spec: Record<string, unknown>): Promise<{ field: string; message: string }[]> {
    const k = kind === "pool" ? KINDS.addressPool : KINDS.l2Advertisement;
    try {
      await custom.createClusterCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        plural: k.plural,
        dryRun: "All",
        body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: k.kind, metadata: { name: "checked" }, spec },
      });
      return [];
    } catch (err) {
      const e = err as { code?: number; body?: unknown };
      if (e.code !== 422) throw err;
      const status = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as { details?: { causes?: { field?: string; message?: string }[] } };
      const causes = (status.details?.causes ?? []).map((c) => ({ field: c.field ?? "", message: c.message ?? "" }));
      assert.ok(causes.length > 0, `a refusal names its fields: ${JSON.stringify(status)}`);
      return causes;
    }
  }

  /** Per entry of `spec.addresses` (one pool holding them all): undefined when accepted, else the API server's sentences. */
  async function entryVerdicts(entries: string[]): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = entries.map(() => undefined);
    for (const cause of await submit("pool", { addresses: entries })) {
      const m = /^spec\.addresses\[(\d+)\]$/.exec(cause.field);
      assert.ok(m, `only entries are refused, not ${cause.field}: ${cause.message}`);
      const i = Number(m[1]);
      out[i] = out[i] === undefined ? cause.message : `${out[i]} | ${cause.message}`;
    }
    return out;
  }

  it("installs the CRDs with every rule (their estimated cost is within the API server's limits)", async () => {
    for (const crd of crds) {
      const stored = JSON.parse(await kubectl("get", "crd", crd.metadata.name, "-o", "json")) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] } };
      const want = rulesOf(crd.spec.versions[0]?.schema.openAPIV3Schema);
      assert.ok(want.length > 0, `${crd.metadata.name} has rules`);
      assert.deepEqual(rulesOf(stored.spec.versions[0]?.schema.openAPIV3Schema), want, `${crd.metadata.name} stored with its rules`);
    }
  });

  it("accepts valid pools: single addresses, CIDRs, ranges, both families, mixed", async () => {
    const valid: string[][] = [
      ["192.0.2.10"],
      ["2001:db8::10"],
      ["192.0.2.0/24"],
      ["192.0.2.7/32", "0.0.0.0/0", "2001:db8::/64", "::/0", "2001:db8::1/128"],
      ["192.0.2.10-192.0.2.20"],
      ["192.0.2.10 - 192.0.2.20", "  192.0.2.30-192.0.2.30  ", "\t192.0.2.40\n"],
      ["2001:db8::10-2001:db8::20", "2001:db8:0:1::-2001:db8:0:1:ffff:ffff:ffff:ffff"],
      ["2001:db8::8000-2001:db8::1:0", "0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
      ["192.0.2.0/28", "2001:db8::/120", "198.51.100.5", "2001:db8:1::1-2001:db8:1::9", "203.0.113.1-203.0.113.2"],
      ["2001:DB8::A-2001:db8::b", "::1.2.3.4", "::ffff:192.0.2.1", "::ffff:192.0.2.0/120", "::ffff:1.2.3.4-::ffff:1.2.3.5"],
      ["::fffe:ffff:ffff-::ffff:0.0.0.0", "::ffff:255.255.255.255-::1:0:0:0", "::ffff:0:0-::ffff:0.0.0.0"],
      ["127.255.255.255-128.0.0.0", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff-8000::"],
    ];
    for (const addresses of valid) {
      for (const a of addresses) assert.equal(providerVerdict(a), undefined, `parseRange accepts ${JSON.stringify(a)}`);
      assert.deepEqual(await submit("pool", { addresses }), [], JSON.stringify(addresses));
    }
    assert.deepEqual(
      await submit("pool", {
        addresses: ["192.0.2.0/24"],
        autoAssign: false,
        serviceAllocation: {
          priority: 3,
          namespaces: ["team"],
          namespaceSelectors: [{ matchLabels: { team: "a" } }],
          serviceSelectors: [{ matchExpressions: [{ key: "app", operator: "In", values: ["web"] }, { key: "tier", operator: "Exists" }] }],
        },
      }),
      [],
    );
  });

  it("refuses malformed entries, host bits, reversed and mixed-family ranges with a sentence naming the entry and the fix", async () => {
    const cases: [entry: string, message: RegExp][] = [
      ["192.0.2.10-", /"192\.0\.2\.10-" is not a range: "" is not an IPv4 or IPv6 address/],
      ["192.0.2.10-192.0.2.20-192.0.2.30", /is not a range; write exactly two addresses joined by one dash/],
      ["192.0.2.1-banana", /"banana" is not an IPv4 or IPv6 address/],
      ["192.0.2.256", /"192\.0\.2\.256" is neither an IP address, a CIDR nor a first-last range; write e\.g\./],
      ["192.0.02.1", /neither an IP address, a CIDR nor a first-last range/],
      ["fe80::1%eth0", /neither an IP address, a CIDR nor a first-last range/],
      ["   ", /spec\.addresses has an empty entry; write an IP address, a CIDR or a first-last range, or remove the entry\./],
      ["192.0.2.0/33", /"192\.0\.2\.0\/33" has an invalid prefix length "33"; write a whole number from 0 to 32 for IPv4, 0 to 128 for IPv6/],
      ["192.0.2.0/024", /has an invalid prefix length "024"/],
      ["192.0.2.0/24/8", /is not a CIDR; write an address, one slash and a prefix length/],
      ["192.0.2.0 /24", /is not a CIDR: "192\.0\.2\.0 " is not an IPv4 or IPv6 address/],
      ["192.0.2.7/24", /"192\.0\.2\.7\/24" has host bits set; use the network address \(every bit after the prefix length cleared: 192\.0\.2\.0\/24, not 192\.0\.2\.7\/24\), or a first-last range\./],
      ["2001:db8::1/64", /"2001:db8::1\/64" has host bits set; use the network address/],
      ["::ffff:192.0.2.1/95", /has host bits set/],
      ["192.0.2.20-192.0.2.10", /"192\.0\.2\.20-192\.0\.2\.10" starts after it ends; write it as 192\.0\.2\.10-192\.0\.2\.20\./],
      ["2001:db8::1:0 - 2001:db8::ffff", /starts after it ends; write it as 2001:db8::ffff-2001:db8::1:0\./],
      ["2001:db8::2-2001:db8::1", /starts after it ends/],
      ["128.0.0.0-127.255.255.255", /starts after it ends; write it as 127\.255\.255\.255-128\.0\.0\.0\./],
      ["8000::-7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", /starts after it ends/],
      ["::ffff:1.2.3.5-::ffff:1.2.3.4", /starts after it ends/],
      ["::1:0:0:0-::ffff:255.255.255.255", /starts after it ends/],
      ["::ffff:0.0.0.0-::fffe:ffff:ffff", /starts after it ends/],
      ["192.0.2.1-2001:db8::1", /"192\.0\.2\.1-2001:db8::1" mixes IPv4 and IPv6; a range needs both ends in one family, so split it into one range per family\./],
    ];
    for (const [entry, message] of cases) {
      assert.notEqual(providerVerdict(entry), undefined, `parseRange refuses ${JSON.stringify(entry)}`);
      const causes = await submit("pool", { addresses: ["192.0.2.128/25", entry] });
      assert.equal(causes.length, 1, `one sentence for ${JSON.stringify(entry)}: ${JSON.stringify(causes)}`);
      assert.equal(causes[0]?.field, "spec.addresses[1]");
      assert.match(causes[0]?.message ?? "", message, JSON.stringify(entry));
    }
  });

  it("agrees with parseRange on every entry of a generated corpus", async () => {
    const next = mulberry32(0x12b);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    const v4 = ["192.0.2.1", "0.0.0.0", "255.255.255.255", "10.0.0.255", "192.0.2.01", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.-1", "", " ", "1..2.3"];
    const v6 = [
      "2001:db8::1", "::", "::1", "2001:DB8::A", "fe80::1%eth0", "2001:db8::g", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3",
      "::ffff:192.0.2.1", "::FFFF:c000:201", "::1.2.3.4", "::ffff:1.2.3.04", "0:0:0:0:0:ffff:0:0", "::fffe:ffff:ffff", "::1:0:0:0", "ffff::",
      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "1:2:3:4:5:6:7::", ":1::2", "1:2:3:4:5:6:1.2.3.4", "::ffff:ffff:ffff", "00000::1", "[::1]",
    ];
    const prefixes = ["0", "1", "8", "24", "31", "32", "33", "64", "95", "96", "120", "127", "128", "129", "024", "-1", "+8", "", "1/2", " 8"];
    const spaces = ["", " ", "\t", "\n", "\u00a0", "\ufeff", "\u0085", "\u2028", "\u3000"];
    /** A random address of the family, as its value. */
    const randomAddress = (family: 4 | 6): bigint => {
      let v = 0n;
      for (let i = 0; i < (family === 4 ? 1 : 4); i++) v = (v << 32n) | BigInt(Math.floor(next() * 2 ** 32));
      return v;
    };
    const spell = (family: 4 | 6, value: bigint): string => {
      const text = formatAddress({ family, value });
      const r = next();
      return r < 0.2 ? text.toUpperCase() : text;
    };
    const corpus: string[] = [];
    for (let i = 0; i < 300; i++) corpus.push(pick([...v4, ...v6]));
    for (let i = 0; i < 200; i++) corpus.push(`${pick([...v4, ...v6])}/${pick(prefixes)}`);
    for (let i = 0; i < 200; i++) corpus.push(`${pick([...v4, ...v6])}${pick(["-", " - ", "--", "-\t", "- "])}${pick([...v4, ...v6])}`);
    for (let i = 0; i < 100; i++) corpus.push(`${pick(spaces)}${pick([...v4, ...v6, "192.0.2.0/24", "192.0.2.1-192.0.2.2"])}${pick(spaces)}`);
    // CIDRs from random addresses: host bits set or cleared.
    for (let i = 0; i < 100; i++) {
      const family = next() < 0.5 ? 4 : 6;
      const bits = family === 4 ? 32 : 128;
      const len = Math.floor(next() * (bits + 1));
      let value = randomAddress(family);
      if (next() < 0.6) value &= ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - len)) - 1n);
      if (family === 6 && next() < 0.2) value = 0xffff_0000_0000n | (value & 0xffff_ffffn);
      corpus.push(`${spell(family, value)}/${len}`);
    }
    // Ranges whose ends differ from a random bit on, in either order, IPv4-mapped ones among them.
    for (let i = 0; i < 500; i++) {
      const family = next() < 0.3 ? 4 : 6;
      const bits = family === 4 ? 32 : 128;
      let a = randomAddress(family);
      if (family === 6 && next() < 0.25) a = 0xffff_0000_0000n | (a & 0xffff_ffffn);
      const flip = BigInt(Math.floor(next() * bits));
      let b = a ^ (1n << flip) ^ (next() < 0.5 ? BigInt(Math.floor(next() * 4)) : 0n);
      if (family === 6 && next() < 0.1) b = 0xffff_0000_0000n | (b & 0xffff_ffffn);
      corpus.push(`${spell(family, a)}-${spell(family, next() < 0.1 ? a : b)}`);
    }
    const counts = { accepted: 0, refused: 0 };
    for (let start = 0; start < corpus.length; start += MAX_POOL_ENTRIES) {
      const batch = corpus.slice(start, start + MAX_POOL_ENTRIES).filter((e) => e.length >= 1 && e.length <= MAX_POOL_ENTRY_LENGTH);
      const server = await entryVerdicts(batch);
      batch.forEach((entry, i) => {
        const ours = providerVerdict(entry);
        assert.equal(server[i] === undefined, ours === undefined, `${JSON.stringify(entry)}: parseRange ${ours ?? "accepts"}; API server ${server[i] ?? "accepts"}`);
        counts[ours === undefined ? "accepted" : "refused"]++;
      });
    }
    assert.ok(counts.accepted > 300 && counts.refused > 300, `a corpus of both kinds: ${JSON.stringify(counts)}`);
  });

  it("checks the largest pool the schema allows, each entry as long and costly as allowed, within the API server's budget", async () => {
    // IPv4-mapped ends take the longest way through the rules; padding makes every string as long as allowed.
    const low = "0000:0000:0000:0000:0000:ffff:255.255.255.254";
    const high = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
    const pad = (a: string, b: string): string => {
      const spaces = " ".repeat((MAX_POOL_ENTRY_LENGTH - a.length - b.length - 1) / 2);
      return `${spaces}${a}-${b}${spaces}`.padEnd(MAX_POOL_ENTRY_LENGTH, " ");
    };
    const worst = Array.from({ length: MAX_POOL_ENTRIES }, (_, i) => (i === MAX_POOL_ENTRIES - 1 ? pad(high, low) : pad(low, high)));
    assert.ok(worst.every((e) => e.length === MAX_POOL_ENTRY_LENGTH));
    assert.equal(worst.map(providerVerdict).findIndex((v) => v !== undefined), MAX_POOL_ENTRIES - 1, "parseRange refuses only the last");
    const verdicts = await entryVerdicts(worst);
    assert.deepEqual(verdicts.slice(0, -1).filter((v) => v !== undefined), []);
    assert.match(verdicts.at(-1) ?? "", /starts after it ends; write it as 0000:0000:0000:0000:0000:ffff:255\.255\.255\.254-0000:/);
    const causes = await submit("pool", { addresses: [...worst.slice(0, -1), "192.0.2.1", "192.0.2.2"] });
    assert.ok(causes.some((c) => c.field === "spec.addresses" && /must have at most 256 items/.test(c.message)), JSON.stringify(causes));
  });

  it("refuses a serviceAllocation that the allocator refuses", async () => {
    const cases: [serviceAllocation: Record<string, unknown>, field: string, message: RegExp][] = [
      [{ priority: -1 }, "spec.serviceAllocation.priority", /greater than or equal to 0/],
      [{ namespaces: [""] }, "spec.serviceAllocation.namespaces[0]", /at least 1 chars long/],
      [
        { serviceSelectors: [{ matchExpressions: [{ key: "app", operator: "In" }] }] },
        "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0]",
        /the matchExpressions entry for key "app" uses In and needs a non-empty list of values; add them, or use Exists\./,
      ],
      [
        { namespaceSelectors: [{ matchExpressions: [{ key: "team", operator: "Exists", values: ["a"] }] }] },
        "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0]",
        /uses Exists, which takes no values; remove them\./,
      ],
      [{ serviceSelectors: [{ matchExpressions: [{ key: "app", operator: "Near", values: ["x"] }] }] }, "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator", /Unsupported value/],
    ];
    for (const [serviceAllocation, field, message] of cases) {
      const causes = await submit("pool", { addresses: ["192.0.2.0/24"], serviceAllocation });
      assert.ok(causes.some((c) => c.field === field && message.test(c.message)), `${JSON.stringify(serviceAllocation)}: ${JSON.stringify(causes)}`);
    }
  });

  it("accepts valid advertisements and refuses bad interfaces with a sentence", async () => {
    const valid = [
      {},
      { interfaces: ["eth0", "eth*", "en?1", "eth0.100", "bond0:1", "can_reach:192.168.28.1", "can_reach:2001:db8::1", "!docker*"] },
      { ipAddressPools: ["lan"], nodeSelectors: [{ matchLabels: { "kubernetes.io/os": "linux" } }], gratuitous: { count: 3, intervalMs: 500, refreshSeconds: 0 } },
    ];
    for (const spec of valid) assert.deepEqual(await submit("advertisement", spec), [], JSON.stringify(spec));
    const cases: [entry: string, message: RegExp][] = [
      ["can_reach:192.168.28", /"can_reach:192\.168\.28": can_reach needs an IPv4 or IPv6 address, e\.g\. can_reach:192\.168\.28\.1; fix or remove the entry\./],
      ["can_reach:", /can_reach needs an IPv4 or IPv6 address/],
      ["can_reach: 192.168.28.1", /can_reach needs an IPv4 or IPv6 address/],
      ["averyveryverylongname0", /"averyveryverylongname0" is not an interface name or glob; write at most 15 letters, digits or/],
      ["eth 0", /is not an interface name or glob/],
      ["!", /is not an interface name or glob/],
    ];
    for (const [entry, message] of cases) {
      const causes = await submit("advertisement", { interfaces: ["eth0", entry] });
      assert.equal(causes.length, 1, `${entry}: ${JSON.stringify(causes)}`);
      assert.equal(causes[0]?.field, "spec.interfaces[1]");
      assert.match(causes[0]?.message ?? "", message);
    }
    const gratuitous = await submit("advertisement", { gratuitous: { count: -1 } });
    assert.equal(gratuitous[0]?.field, "spec.gratuitous.count");
  });

  it("kubectl apply refuses an invalid pool, printing the sentence", async () => {
    const manifest = join(dir, "pool.yaml");
    writeFileSync(
      manifest,
      `apiVersion: ${API_GROUP}/${API_VERSION}\nkind: ${KINDS.addressPool.kind}\nmetadata: {name: reversed}\nspec:\n  addresses: ["192.0.2.0/28", "192.0.2.30-192.0.2.20"]\n`,
    );
    await assert.rejects(kubectl("apply", "-f", manifest), /spec\.addresses\[1\]: Invalid value: "string": spec\.addresses entry "192\.0\.2\.30-192\.0\.2\.20" starts after it ends; write it as 192\.0\.2\.20-192\.0\.2\.30\./);
    writeFileSync(manifest, `apiVersion: ${API_GROUP}/${API_VERSION}\nkind: ${KINDS.addressPool.kind}\nmetadata: {name: fixed}\nspec:\n  addresses: ["192.0.2.0/28", "192.0.2.20-192.0.2.30"]\n`);
    await kubectl("apply", "-f", manifest);
    assert.equal(JSON.parse(await kubectl("get", KINDS.addressPool.plural, "fixed", "-o", "json")).spec.addresses[1], "192.0.2.20-192.0.2.30");
  });
});
