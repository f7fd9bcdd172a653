/** A Kubernetes label selector (the `matchLabels` / `matchExpressions` form). */
export interface LabelSelector {
  /** Labels that must all be present with these exact values. */
  matchLabels?: Record<string, string>;
  /** Set-based requirements; all must hold. */
  matchExpressions?: LabelSelectorRequirement[];
}

/** One set-based requirement of a {@link LabelSelector}. */
export interface LabelSelectorRequirement {
  /** Label key the requirement applies to. */
  key: string;
  /** `In` and `NotIn` need `values`; `Exists` and `DoesNotExist` take none. */
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  /** Values for `In` / `NotIn`. */
  values?: string[];
}
