// What the scale benchmark needs: the lab's tools only (no root, no network namespaces, no data
// plane addon: the instances run on loopback with a fake data plane).
import { root, run } from "../control/harness.ts";

/** Why the benchmark cannot run here, or undefined when it can. */
export async function labUnavailableReason(): Promise<string | undefined> {
  const missing = (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing kubernetes etcd kwok`])).trim();
  return missing ? `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh` : undefined;
}
