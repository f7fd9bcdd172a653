// l2lb as the demo runs it: the compiled speaker in each node namespace as the installation's
// ServiceAccount (the harness installs CRDs and RBAC), serving Services without a class too
// (--default-class), with the seeds' pools and the benchmark's pool.
import { join } from "node:path";
import { kubectl, root, startSpeaker, waitForMembers, type Lab, type SpeakerProcess } from "../control/harness.ts";
import { expectRunning, SpeakerFleet, stopAll, type Implementation } from "./implementation.ts";

export class L2lbPeer extends SpeakerFleet implements Implementation {
  readonly name = "l2lb";

  private readonly lab: Lab;

  constructor(lab: Lab) {
    super();
    this.lab = lab;
  }

  async start(): Promise<void> {
    await kubectl(this.lab, "apply", "-f", join(root, "examples/kubectl/pools.yaml"), "-f", join(root, "test/bench/l2lb-bench-pool.yaml"));
    for (const n of this.lab.nodes) this.launch(n);
    await waitForMembers(this.lab, this.lab.nodes.length);
    for (const s of this.speakers.values()) await expectRunning(s, 100);
  }

  protected launch(node: string): SpeakerProcess {
    const s = startSpeaker(this.lab, node, { L2LB_DEFAULT_CLASS: "true", L2LB_LOG_LEVEL: "warn" }, { compiled: true });
    this.speakers.set(node, s);
    return s;
  }

  async stop(): Promise<void> {
    await stopAll(this.speakers.values());
    await kubectl(this.lab, "delete", "--ignore-not-found", "-f", join(root, "examples/kubectl/pools.yaml"), "-f", join(root, "test/bench/l2lb-bench-pool.yaml")).catch(() => "");
  }
}
