// This node's speaker Lease: `l2lb-speaker-<node>` in the install namespace, one per node (API
// load grows with nodes, not Services). Renewed every `renewIntervalMs`; its annotations carry
// what peers need to elect and reach this speaker: incarnation, heartbeat endpoint, renew
// period and the subnets of its eligible interfaces. Deleted on graceful shutdown so peers take
// over at once.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { NODE_SUBNETS_ANNOTATION, SPEAKER_LEASE_LABEL, SPEAKER_LEASE_PREFIX } from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { realClock, wallNow, withTimeout, type Clock } from "./clock.ts";
import type { LeaseApi } from "./kube-api.ts";

export { withTimeout } from "./clock.ts";

/** Lease annotations written by the speaker (besides {@link NODE_SUBNETS_ANNOTATION}). */
export const LEASE_ANNOTATIONS = {
  incarnation: "l2lb.dev/incarnation",
  heartbeat: "l2lb.dev/heartbeat",
  renewIntervalMs: "l2lb.dev/renew-interval-ms",
} as const;

export interface LeaseKeeperOptions {
  /** The API the Lease is written through. */
  api: LeaseApi;
  clock?: Clock;
  namespace: string;
  node: string;
  holder: string;
  incarnation: string;
  heartbeatEndpoint: string | undefined;
  renewIntervalMs: number;
  durationSeconds: number;
  logger: Logger;
  /** Observes the round-trip of each renewal (seconds) and failures. */
  onRenew?: (seconds: number, ok: boolean) => void;
  /** Another object than the speaker Lease (the member record): its name and label. */
  object?: { name: string; label: string };
}

/** A MicroTime as the API server parses it: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export function leaseName(node: string): string {
  return `${SPEAKER_LEASE_PREFIX}${node}`;
}

function isStatus(err: unknown, code: number): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

export class LeaseKeeper {
  private readonly api: LeaseApi;
  private readonly clock: Clock;
  private readonly opts: LeaseKeeperOptions;
  private current: k8s.V1Lease | undefined;
  private subnets: PublishedSubnet[] = [];
  private timer: unknown;
  /** Bumped by every start of the renew loop: an older loop stops at its next step. */
  private loopGeneration = 0;
  private inflight: Promise<void> | undefined;
  private stopped = false;
  /** clock.now() of the last successful write; -Infinity before the first. */
  lastOkAt = -Infinity;
  /** When the last successful renewal was sent: the renewTime peers saw is no earlier than this. */
  lastOkSentAt = -Infinity;
  /** The renew period in effect when the last successful write was sent. */
  lastOkIntervalMs = 0;
  lastError: string | undefined;

  constructor(opts: LeaseKeeperOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.api = opts.api;
  }

  get name(): string {
    return this.opts.object?.name ?? leaseName(this.opts.node);
  }

  /** The current renew period. */
  get renewIntervalMs(): number {
    return this.opts.renewIntervalMs;
  }

  /**
   * Changes the renew period (and the annotation the next write carries); a running renew loop
   * given a shorter one renews at once and goes on at the new rate.
   */
  setRenewInterval(ms: number): void {
    const shorter = ms < this.opts.renewIntervalMs;
    this.opts.renewIntervalMs = ms;
    if (!shorter || this.loopGeneration === 0 || this.stopped) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.start();
  }

  /** The resourceVersion of the last successful write ("" before). */
  get resourceVersion(): string {
    return this.current?.metadata?.resourceVersion ?? "";
  }

  /** The uid of the object last written ("" before). */
  get uid(): string {
    return this.current?.metadata?.uid ?? "";
  }

  /** The object was deleted by someone else: write it again from scratch. */
  rewrite(): Promise<void> {
    this.current = undefined;
    return this.renewNow();
  }

  /** Holds the lease (has written it at least once). */
  get acquired(): boolean {
    return this.current !== undefined;
  }

  setHeartbeatEndpoint(endpoint: string): void {
    this.opts.heartbeatEndpoint = endpoint;
  }

  setSubnets(subnets: PublishedSubnet[]): void {
    const same = JSON.stringify(subnets) === JSON.stringify(this.subnets);
    this.subnets = subnets;
    if (same || this.current === undefined) return;
    if (this.inflight) void this.inflight.finally(() => this.renewNow());
    else void this.renewNow();
  }

  /**
   * Renews at a fixed rate, one period after the previous renewal *started* (at once when it took
   * longer): the answer deadline counts from the last renewal sent, so a slow round-trip must not
   * push the next one later.
   */
  start(): void {
    const generation = ++this.loopGeneration;
    const loop = (): void => {
      if (this.stopped || generation !== this.loopGeneration) return;
      const started = this.clock.now();
      void this.renewNow().finally(() => {
        if (this.stopped || generation !== this.loopGeneration) return;
        this.timer = this.clock.setTimeout(loop, Math.max(0, started + this.opts.renewIntervalMs - this.clock.now()));
      });
    };
    loop();
  }

  private body(now: string): k8s.V1Lease {
    const prev = this.current;
    const o = this.opts;
    const annotations: Record<string, string> = {
      [LEASE_ANNOTATIONS.incarnation]: o.incarnation,
      [LEASE_ANNOTATIONS.renewIntervalMs]: String(o.renewIntervalMs),
      [NODE_SUBNETS_ANNOTATION]: JSON.stringify(this.subnets),
    };
    if (o.heartbeatEndpoint !== undefined) annotations[LEASE_ANNOTATIONS.heartbeat] = o.heartbeatEndpoint;
    const sameHolder = prev?.spec?.holderIdentity === o.holder;
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: this.name,
        namespace: o.namespace,
        labels: { [o.object?.label ?? SPEAKER_LEASE_LABEL]: o.node },
        annotations,
        ...(prev?.metadata?.resourceVersion ? { resourceVersion: prev.metadata.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: o.holder,
        leaseDurationSeconds: o.durationSeconds,
        // The API's MicroTime is a string on the wire; the client library types it as a Date.
        acquireTime: sameHolder && prev?.spec?.acquireTime ? prev.spec.acquireTime : (now as unknown as k8s.V1MicroTime),
        renewTime: now as unknown as k8s.V1MicroTime,
        leaseTransitions: (prev?.spec?.leaseTransitions ?? 0) + (prev !== undefined && !sameHolder ? 1 : 0),
      },
    };
  }

  /** One renewal (or creation); concurrent callers share the in-flight attempt. */
  renewNow(): Promise<void> {
    if (this.inflight) return this.inflight;
    const p = this.renewOnce().finally(() => {
      if (this.inflight === p) this.inflight = undefined;
    });
    this.inflight = p;
    return p;
  }

  private async renewOnce(): Promise<void> {
    // After release() nothing may write the lease again: peers would wait for it to expire.
    if (this.stopped) return;
    const started = this.clock.now();
    const interval = this.opts.renewIntervalMs;
    const timeout = Math.max(interval * 2, 1000);
    const ns = this.opts.namespace;
    try {
      if (this.current === undefined) {
        // First write of this incarnation: take over whatever a previous process left behind.
        let existing: k8s.V1Lease | undefined;
        try {
          existing = await withTimeout(this.api.readLease(ns, this.name), timeout, "lease read", this.clock);
        } catch (err) {
          if (!isStatus(err, 404)) throw err;
        }
        this.current = existing;
        const body = this.body(microTime(wallNow(this.clock)));
        this.current = existing
          ? await withTimeout(this.api.replaceLease(ns, this.name, body), timeout, "lease replace", this.clock)
          : await withTimeout(this.api.createLease(ns, body), timeout, "lease create", this.clock);
      } else {
        const body = this.body(microTime(wallNow(this.clock)));
        try {
          this.current = await withTimeout(this.api.replaceLease(ns, this.name, body), timeout, "lease renew", this.clock);
        } catch (err) {
          if (isStatus(err, 409) || isStatus(err, 404)) {
            // Someone else wrote it (or it was deleted): re-read and rewrite as ours.
            this.current = undefined;
            if (this.stopped) return;
            return await this.renewOnce();
          }
          throw err;
        }
      }
      const now = this.clock.now();
      this.lastOkAt = now;
      this.lastOkSentAt = started;
      this.lastOkIntervalMs = interval;
      this.lastError = undefined;
      this.opts.onRenew?.((now - started) / 1000, true);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.lastError === undefined) this.opts.logger.warn({ err: message }, "lease renewal failed");
      this.lastError = message;
      this.opts.onRenew?.((this.clock.now() - started) / 1000, false);
    }
  }

  /**
   * Stops renewing and deletes the lease (graceful hand-over). A renewal under way is awaited
   * first, so it cannot re-create the lease after the delete. Before this process has written
   * the lease (still starting), the node's lease left by a previous process is deleted too when
   * it has expired; a live lease of another holder is left alone.
   */
  async release(timeoutMs = 1000): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const deadline = this.clock.now() + timeoutMs;
    const remaining = (): number => Math.max(deadline - this.clock.now(), 100);
    if (this.inflight) {
      let waited: unknown;
      await Promise.race([this.inflight, new Promise((r) => (waited = this.clock.setTimeout(() => r(undefined), remaining())))]);
      this.clock.clearTimeout(waited);
    }
    try {
      const ns = this.opts.namespace;
      let resourceVersion = this.current?.metadata?.resourceVersion;
      if (this.current === undefined) {
        const existing = await withTimeout(this.api.readLease(ns, this.name), remaining(), "lease read", this.clock);
        if (!this.mayDelete(existing)) return;
        resourceVersion = existing.metadata?.resourceVersion;
      }
      await withTimeout(this.api.deleteLease(ns, this.name, resourceVersion), remaining(), "lease delete", this.clock);
      this.opts.logger.info({ lease: this.name }, "lease deleted");
    } catch (err) {
      if (!isStatus(err, 404)) {
        this.opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "lease delete failed; peers take over when it expires");
      }
    } finally {
      this.current = undefined;
    }
  }

  /** A lease this process did not write: ours to delete if we hold it or its holder let it expire. */
  private mayDelete(lease: k8s.V1Lease): boolean {
    if (lease.spec?.holderIdentity === this.opts.holder) return true;
    const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime;
    const seconds = lease.spec?.leaseDurationSeconds ?? this.opts.durationSeconds;
    return renewed !== undefined && new Date(renewed).getTime() + seconds * 1000 < wallNow(this.clock);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
  }
}
