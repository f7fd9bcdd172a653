export { matchesSelector } from "../model/selectors.ts";

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** Sentences describing what is wrong with a selector (empty when it is valid). `where` names the field. */
export function selectorProblems(selector: unknown, where: string): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  if (selector === null || typeof selector !== "object" || Array.isArray(selector)) {
    return [{ field: where, message: `${where} must be a label selector object with matchLabels and/or matchExpressions.` }];
  }
  const s = selector as Record<string, unknown>;
  if (s.matchLabels !== undefined) {
    if (s.matchLabels === null || typeof s.matchLabels !== "object" || Array.isArray(s.matchLabels)) {
      out.push({ field: `${where}.matchLabels`, message: `${where}.matchLabels must map label keys to string values.` });
    } else {
      for (const [k, v] of Object.entries(s.matchLabels)) {
        if (typeof v !== "string") {
          out.push({ field: `${where}.matchLabels["${k}"]`, message: `${where}.matchLabels["${k}"] must be a string; quote it (e.g. "${String(v)}").` });
        }
      }
    }
  }
  if (s.matchExpressions !== undefined) {
    if (!Array.isArray(s.matchExpressions)) {
      out.push({ field: `${where}.matchExpressions`, message: `${where}.matchExpressions must be a list of {key, operator, values}.` });
    } else {
      s.matchExpressions.forEach((raw: unknown, i: number) => {
        const f = `${where}.matchExpressions[${i}]`;
        const e = (raw ?? {}) as Record<string, unknown>;
        if (typeof e.key !== "string" || e.key === "") {
          out.push({ field: `${f}.key`, message: `${f} needs a label key.` });
        }
        if (typeof e.operator !== "string" || !OPERATORS.has(e.operator)) {
          out.push({ field: `${f}.operator`, message: `${f} has operator "${String(e.operator)}"; use In, NotIn, Exists or DoesNotExist.` });
          return;
        }
        const values = e.values;
        const needsValues = e.operator === "In" || e.operator === "NotIn";
        if (needsValues && (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== "string"))) {
          out.push({ field: `${f}.values`, message: `${f} uses ${e.operator} and needs a non-empty list of string values.` });
        }
        if (!needsValues && Array.isArray(values) && values.length > 0) {
          out.push({ field: `${f}.values`, message: `${f} uses ${e.operator}, which takes no values; remove them.` });
        }
      });
    }
  }
  return out;
}

/** Canonical text of a label map (`a=1,b=2`, keys sorted). */
export function labelsKey(labels: Record<string, string> | undefined): string {
  return Object.keys(labels ?? {})
    .sort()
    .map((k) => `${k}=${(labels as Record<string, string>)[k]}`)
    .join(",");
}
