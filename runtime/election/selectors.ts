// Kubernetes label selectors and interface-name globs, as pure predicates.
import type { LabelSelector } from "../../provider/model/labels.ts";

/** True when `labels` satisfy `selector` (all matchLabels and all matchExpressions). An empty selector matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const value = l[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
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
  return selectors.some((s) => selectorMatches(s, labels));
}

const globCache = new Map<string, RegExp>();

/** Shell-style glob (`*`, `?`, `[...]`) matched against a whole interface name. */
export function globMatches(pattern: string, name: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    let src = "";
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i] as string;
      if (ch === "*") src += ".*";
      else if (ch === "?") src += ".";
      else if (ch === "[") {
        const end = pattern.indexOf("]", i + 1);
        if (end < 0) src += "\\[";
        else {
          let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
          if (body.startsWith("!")) body = "^" + body.slice(1);
          src += `[${body}]`;
          i = end;
        }
      } else src += ch.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
    re = new RegExp(`^${src}$`);
    globCache.set(pattern, re);
  }
  return re.test(name);
}
