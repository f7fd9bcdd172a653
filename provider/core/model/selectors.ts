// Pure predicates over the model's selectors, shared by the allocator and the speaker: Kubernetes
// label selectors, and the shell-style globs of an L2Advertisement's interface names.
import type { LabelSelector } from "./labels.ts";

/** True when `labels` satisfy `selector` (all matchLabels and all matchExpressions; Kubernetes semantics). An empty selector matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, req.key);
    const value = have[req.key];
    switch (req.operator) {
      case "In":
        if (!present || !(req.values ?? []).includes(value as string)) return false;
        break;
      case "NotIn":
        if (present && (req.values ?? []).includes(value as string)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
      default:
        // An operator we do not know selects nothing (fail closed).
        return false;
    }
  }
  return true;
}

/** True when `selectors` is empty/absent (no restriction) or one of them matches. */
export function anySelectorMatches(selectors: readonly LabelSelector[] | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (selectors === undefined || selectors.length === 0) return true;
  return selectors.some((s) => matchesSelector(s, labels));
}

const globCache = new Map<string, RegExp>();

/** Shell-style glob (`*`, `?`, `[...]`) matched against a whole interface name. */
export function globMatches(pattern: string, name: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    re = globToRegExp(pattern);
    globCache.set(pattern, re);
  }
  return re.test(name);
}

/** Shell-style glob (`*`, `?`, `[...]`, `[!...]`) to a RegExp anchored at both ends. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 1);
      if (close < 0) re += "\\[";
      else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\\]/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
