// The control plane's metrics, in one place (README "Metrics"); each part updates its own.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface ControlMetrics {
  announced: Gauge;
  electionChanges: Counter;
  ownershipChanges: Counter;
  leaseRenew: Histogram;
  leaseFailures: Counter;
  apiHealthy: Gauge;
  peers: Gauge;
  hbReceived: Counter;
  hbRejected: Counter;
  configReloads: Counter;
  refused: Gauge;
  waiting: Gauge;
  statusWrites: Counter;
  answerPauses: Counter;
  livenessReads: Counter;
  verdicts: Counter;
  eventsDropped: Counter;
}

/** Registers the metrics; `heartbeatsSent` reads the heartbeat endpoint's datagram count at scrape time. */
export function controlMetrics(r: Registry, heartbeatsSent: () => number): ControlMetrics {
  const reg = { registers: [r] };
  new Counter({
    name: "l2lb_heartbeats_sent_total",
    help: "Heartbeat datagrams sent.",
    registers: [r],
    collect() {
      this.reset();
      this.inc(heartbeatsSent());
    },
  });
  return {
    announced: new Gauge({ name: "l2lb_speaker_announced", help: "Addresses this node answers for (1 per address and interface).", labelNames: ["ip", "interface"], ...reg }),
    electionChanges: new Counter({ name: "l2lb_election_changes_total", help: "Changes of the elected owner of an address, as seen by this node.", ...reg }),
    ownershipChanges: new Counter({ name: "l2lb_ownership_changes_total", help: "Addresses gained or released by this node.", labelNames: ["change"], ...reg }),
    leaseRenew: new Histogram({ name: "l2lb_lease_renew_seconds", help: "Round-trip time of lease renewals.", labelNames: ["result"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], ...reg }),
    leaseFailures: new Counter({ name: "l2lb_lease_renew_failures_total", help: "Failed lease renewals.", ...reg }),
    apiHealthy: new Gauge({ name: "l2lb_api_healthy", help: "1 when this node's lease renewals succeed (it may gain addresses), 0 when fail-static.", ...reg }),
    peers: new Gauge({ name: "l2lb_peers", help: "Peer speakers by liveness.", labelNames: ["state"], ...reg }),
    hbReceived: new Counter({ name: "l2lb_heartbeats_received_total", help: "Authenticated heartbeats received.", ...reg }),
    hbRejected: new Counter({ name: "l2lb_heartbeats_rejected_total", help: "Heartbeats ignored (bad MAC, malformed, replayed).", ...reg }),
    configReloads: new Counter({ name: "l2lb_config_changes_total", help: "Configuration changes applied without restart.", labelNames: ["kind"], ...reg }),
    refused: new Gauge({ name: "l2lb_refused_addresses", help: "Assigned addresses that are never announced (outside pools, not advertised...).", ...reg }),
    waiting: new Gauge({ name: "l2lb_waiting_addresses", help: "Addresses this node won but waits for a peer to release.", ...reg }),
    answerPauses: new Counter({
      name: "l2lb_answer_pauses_total",
      help: "Times the data plane's answer deadline passed before the control loop confirmed it (a frozen process or a stalled event loop): answering paused until peers were heard again.",
      ...reg,
    }),
    livenessReads: new Counter({ name: "l2lb_liveness_reads_total", help: "Reads of a monitored peer's speaker Lease after its heartbeats and renewals looked missed.", ...reg }),
    verdicts: new Counter({ name: "l2lb_member_verdicts_total", help: "Peers this node declared dead (their member record deleted).", ...reg }),
    statusWrites: new Counter({ name: "l2lb_status_writes_total", help: "Writes of Service status, annotations and pool status.", labelNames: ["kind", "result"], ...reg }),
    eventsDropped: new Counter({ name: "l2lb_events_dropped_total", help: "Kubernetes events not written because the event queue was full (a burst of thousands of Services).", ...reg }),
  };
}
