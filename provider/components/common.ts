// Small helpers shared by the components.
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";

/** Pulumi type token of a component, e.g. `l2lb:index:AddressPool`. */
export function typeToken(kind: string): string {
  return `l2lb:index:${kind}`;
}

/** Name of a child resource, derived from its component's name. */
export function childName(component: string, suffix: string): string {
  return `${component}-${suffix}`;
}

let cachedVersion: string | undefined;

/**
 * Version of the installed l2lb package (from its package.json), used as the default speaker
 * image tag so the runtime always matches the library that configured it.
 */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = new URL(".", import.meta.url);
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "l2lb" && typeof pkg.version === "string") {
        cachedVersion = pkg.version;
        return pkg.version;
      }
    } catch {
      // not here; look one level up
    }
    dir = new URL("..", dir);
  }
  throw new Error("l2lb: cannot find the package's own package.json to derive the speaker image tag; pass `image` explicitly");
}

/** Throws a readable error for an invalid component argument (raised while the program runs, before anything is sent). */
export function invalid(component: string, name: string, message: string): never {
  throw new pulumi.RunError(`${component} "${name}": ${message}`);
}

/** Deterministic JSON (sorted keys, 2-space indent, trailing newline) for objects written to the cluster. */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}
