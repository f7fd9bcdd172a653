// Publishes the subnets this node's speaker serves on its Node object (NODE_SUBNETS_ANNOTATION),
// where the allocator reads them. One write at a time; a refused write is retried with
// exponential backoff (not on every tick).
import type { Logger } from "pino";
import { NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { withTimeout, type Clock } from "./clock.ts";
import type { ClusterSource } from "./sources.ts";
import type { WriteApi } from "./kube-api.ts";
import type { ControlMetrics } from "./metrics.ts";
import { WorkQueue, type Outcome } from "./work-queue.ts";

export interface NodeSubnetsOptions {
  node: string;
  source: ClusterSource;
  api: WriteApi;
  clock: Clock;
  logger: Logger;
  metrics: ControlMetrics;
}

export class NodeSubnets {
  private readonly o: NodeSubnetsOptions;
  private readonly queue: WorkQueue;
  private wanted: string | undefined;
  private published: string | undefined;

  constructor(o: NodeSubnetsOptions) {
    this.o = o;
    this.queue = new WorkQueue({ handler: () => this.write(), concurrency: 1, clock: o.clock });
  }

  /** Wants `subnets` on the Node; writes when the Node (in the cache) does not carry them yet. */
  publish(subnets: PublishedSubnet[]): void {
    this.wanted = JSON.stringify(subnets);
    if (this.pending() && !this.queue.isBackingOff("node")) this.queue.add("node");
  }

  stop(): void {
    this.queue.stop();
  }

  private pending(): boolean {
    const node = this.o.source.nodes.get(this.o.node);
    if (node === undefined || this.wanted === undefined) return false;
    return node.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION] !== this.wanted && this.published !== this.wanted;
  }

  private async write(): Promise<Outcome> {
    const value = this.wanted;
    if (value === undefined || !this.pending()) return "done";
    try {
      await withTimeout(this.o.api.patchNodeAnnotations(this.o.node, { [NODE_SUBNETS_ANNOTATION]: value }), 5000, "node patch", this.o.clock);
      this.published = value;
      this.o.metrics.statusWrites.inc({ kind: "node", result: "ok" });
      return "done";
    } catch (err) {
      this.o.metrics.statusWrites.inc({ kind: "node", result: "error" });
      const message = err instanceof Error ? err.message : String(err);
      if (this.queue.failuresOf("node") === 0) this.o.logger.warn({ err: message }, "cannot publish node subnets; retrying with backoff");
      else this.o.logger.debug({ err: message }, "cannot publish node subnets again");
      return "retry";
    }
  }
}
