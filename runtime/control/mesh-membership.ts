// Mesh membership: every speaker watches every speaker Lease (each renewed every second) and
// sends its heartbeats to every peer. Simple and exact, but the API server delivers N² Lease
// events per renewal period and each node sends 5·(N−1) datagrams a second: kept for small
// clusters and as the baseline the ring design (ring-membership.ts) is measured against.
import type * as k8s from "@kubernetes/client-node";
import { NODE_SUBNETS_ANNOTATION, SPEAKER_LEASE_PREFIX } from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import type { SpeakerView } from "../election/plan.ts";
import { formatEndpoint, parseEndpoint } from "./heartbeat.ts";
import { LEASE_ANNOTATIONS } from "./lease.ts";
import { isolated, peerLiveness, type Liveness } from "./liveness.ts";
import { Membership, type Members } from "./membership.ts";

interface LeaseState {
  node: string;
  renewTime: string;
  resourceVersion: string;
  observedAtMs: number;
  incarnation: string;
  renewIntervalMs: number;
  durationMs: number;
  subnets: PublishedSubnet[];
  endpoint: { host: string; port: number } | undefined;
}

export class MeshMembership extends Membership {
  private readonly leases = new Map<string, LeaseState>();
  private knownMembers = 1;

  async start(endpointHost: string | undefined, port: number): Promise<void> {
    if (endpointHost !== undefined) this.lease.setHeartbeatEndpoint(formatEndpoint(endpointHost, port));
    await this.heartbeat.start();
    this.markHeartbeatsStarted();
    this.lease.start();
  }

  async stop(): Promise<void> {
    await this.heartbeat.stop(true);
    await this.lease.release();
  }

  setSubnets(subnets: PublishedSubnet[]): void {
    this.lease.setSubnets(subnets);
  }

  resetObservations(now: number): void {
    for (const l of this.leases.values()) l.observedAtMs = now;
  }

  protected incarnationOf(node: string): string | undefined {
    return this.leases.get(node)?.incarnation;
  }

  protected monitors(): string[] {
    return [...this.leases.keys()].filter((n) => n !== this.o.node);
  }

  protected peerCount(): number {
    return this.leases.size - (this.leases.has(this.o.node) ? 1 : 0);
  }

  onLease(verb: "add" | "update" | "delete", l: k8s.V1Lease): boolean {
    const name = l.metadata?.name ?? "";
    if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return false;
    const node = name.slice(SPEAKER_LEASE_PREFIX.length);
    if (verb === "delete") {
      this.leases.delete(node);
      return true;
    }
    const a = l.metadata?.annotations ?? {};
    // List results carry Dates, watch events strings: compare instants.
    const renewTime = l.spec?.renewTime ? String(new Date(l.spec.renewTime as unknown as string).getTime()) : "";
    const prev = this.leases.get(node);
    const incarnation = a[LEASE_ANNOTATIONS.incarnation] ?? l.spec?.holderIdentity ?? "";
    const changed = prev === undefined || prev.renewTime !== renewTime || prev.incarnation !== incarnation;
    this.leases.set(node, {
      node,
      renewTime,
      resourceVersion: l.metadata?.resourceVersion ?? "",
      observedAtMs: changed ? this.o.clock.now() : (prev as LeaseState).observedAtMs,
      incarnation,
      renewIntervalMs: Number(a[LEASE_ANNOTATIONS.renewIntervalMs] ?? "") || (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      durationMs: (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      subnets: parsePublishedSubnets(a[NODE_SUBNETS_ANNOTATION]),
      endpoint: parseEndpoint(a[LEASE_ANNOTATIONS.heartbeat]),
    });
    this.heartbeat.setPeers(
      [...this.leases.values()].filter((x) => x.endpoint !== undefined).map((x) => ({ node: x.node, host: (x.endpoint as { host: string }).host, port: (x.endpoint as { port: number }).port })),
    );
    return true;
  }

  evaluate(now: number, apiHealthy: boolean, selfSubnets: PublishedSubnet[]): Members {
    const timing = { heartbeatTimeoutMs: this.t.heartbeatTimeoutMs, graceMs: this.t.graceMs };
    const self = this.o.node;
    const alive = new Map<string, Liveness>();
    const speakers: SpeakerView[] = [];
    let heard = 0;
    let dead = 0;
    for (const l of this.leases.values()) {
      if (l.node === self) continue;
      if (this.heardFresh(l.node, now)) heard++;
      const lv = peerLiveness(l, this.heartbeats.get(l.node), now, timing);
      if (lv.alive) {
        alive.set(l.node, lv);
        speakers.push({ node: l.node, subnets: l.subnets });
      } else dead++;
    }
    if (this.lease.acquired) {
      alive.set(self, { alive: true, reason: "Lease" });
      speakers.push({ node: self, subnets: selfSubnets });
    }
    this.o.metrics.peers.set({ state: "alive" }, alive.size - (this.lease.acquired ? 1 : 0));
    this.o.metrics.peers.set({ state: "dead" }, dead);
    const change = this.noteAlive(alive, (n) => (this.leases.has(n) ? peerLiveness(this.leases.get(n), this.heartbeats.get(n), now, timing).reason : "NoLease"));
    if (apiHealthy) this.knownMembers = Math.max(alive.size, 1);
    return { alive, speakers, ...change, isolated: isolated(apiHealthy, heard, this.knownMembers) };
  }
}
