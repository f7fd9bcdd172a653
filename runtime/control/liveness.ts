// Peer liveness: two independent signals, the Lease as the arbiter. Pure.
//
// Signals about a peer P, as seen by this speaker S:
//  - P's Lease (one per node, renewed every `renewIntervalMs`, `leaseDurationSeconds` long).
//    S records the local time at which it *observed* each renewal (not P's clock: no skew).
//  - P's heartbeats: UDP datagrams every ~200 ms on the node network, carrying P's node name,
//    the incarnation written in its Lease, and the addresses P currently answers for.
//
// P is dead for S when one of:
//  (a) P has no Lease (never created, or deleted by a graceful shutdown);
//  (b) quick path — S has heard P's heartbeats in this incarnation, they stopped for
//      `heartbeatTimeoutMs`, AND P missed a Lease renewal (no renewal observed for
//      `renewIntervalMs + graceMs`). Both signals must agree: a lost datagram or a slow API
//      write alone never moves an address;
//  (c) slow path — S never heard P's heartbeats (UDP blocked, or a peer without them) and no
//      renewal was observed for the full lease duration.
// Otherwise P is alive. A fresh heartbeat keeps P alive even when its Lease has expired (P
// lost the API server but still answers: fail-static, see ownership.ts), so an API outage on
// one node never makes its peers take its addresses while it still answers.
//
// Heartbeats can only keep a peer alive (delay a takeover); they can never by themselves make
// S take an address. So forged or replayed datagrams cannot cause a split brain; the optional
// HMAC key only protects against being kept from taking over.

export interface LeaseObservation {
  /** Local monotonic time (ms) at which S last saw the renewal time change. */
  observedAtMs: number;
  /** The peer's renew period, from its Lease annotations (ms). */
  renewIntervalMs: number;
  /** `leaseDurationSeconds` × 1000. */
  durationMs: number;
  /** Incarnation written in the Lease (changes on every restart of the peer's speaker). */
  incarnation: string;
}

export interface HeartbeatObservation {
  /** Local monotonic time (ms) of the last heartbeat from this incarnation. */
  lastAtMs: number;
  incarnation: string;
  /** The last heartbeat said the peer is shutting down. */
  leaving: boolean;
}

export interface LivenessTiming {
  heartbeatTimeoutMs: number;
  graceMs: number;
}

export type LivenessReason = "NoLease" | "Heartbeat" | "Lease" | "HeartbeatAndRenewalMissed" | "LeaseExpired" | "Leaving" | "Member";

export interface Liveness {
  alive: boolean;
  reason: LivenessReason;
}

export function peerLiveness(
  lease: LeaseObservation | undefined,
  heartbeat: HeartbeatObservation | undefined,
  nowMs: number,
  timing: LivenessTiming,
): Liveness {
  if (lease === undefined) return { alive: false, reason: "NoLease" };
  const hb = heartbeat !== undefined && heartbeat.incarnation === lease.incarnation ? heartbeat : undefined;
  const sinceRenewal = nowMs - lease.observedAtMs;
  if (hb !== undefined) {
    const fresh = nowMs - hb.lastAtMs < timing.heartbeatTimeoutMs;
    if (fresh && !hb.leaving) return { alive: true, reason: "Heartbeat" };
    // Heard before, silent (or leaving) now: a missed renewal confirms it.
    if (sinceRenewal > lease.renewIntervalMs + timing.graceMs) {
      return { alive: false, reason: hb.leaving ? "Leaving" : "HeartbeatAndRenewalMissed" };
    }
    return { alive: true, reason: "Lease" };
  }
  if (sinceRenewal > lease.durationMs) return { alive: false, reason: "LeaseExpired" };
  return { alive: true, reason: "Lease" };
}

/**
 * A node without the API server (its own renewals failing) that also hears fewer than a
 * majority of the last known members (itself included) is isolated: it must stop answering,
 * because its peers may have taken over. With the API server down everywhere, nodes still hear
 * each other and keep everything (fail-static).
 */
export function isolated(apiHealthy: boolean, heardPeers: number, knownMembers: number): boolean {
  if (apiHealthy) return false;
  const members = Math.max(knownMembers, 1);
  return (heardPeers + 1) * 2 <= members;
}
