// Kubernetes label selectors and interface-name globs, as pure predicates (implemented once in
// the model, shared with the allocator).
import type { LabelSelector } from "../../provider/model/labels.ts";
import { globToRegExp, matchesSelector } from "../../provider/model/selectors.ts";

/** True when `labels` satisfy `selector` (all matchLabels and all matchExpressions). An empty selector matches everything. */
export const selectorMatches = matchesSelector;

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
