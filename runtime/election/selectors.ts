// Kubernetes label selectors and interface-name globs, as pure predicates (implemented once in
// the model, shared with the allocator).
import { matchesSelector } from "../../provider/core/model/selectors.ts";

export { anySelectorMatches, globMatches } from "../../provider/core/model/selectors.ts";

/** True when `labels` satisfy `selector` (all matchLabels and all matchExpressions). An empty selector matches everything. */
export const selectorMatches = matchesSelector;
