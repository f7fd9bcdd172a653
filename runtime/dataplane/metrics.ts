// Per-address counters. The receive threads increment a Uint32Array shared with the native addon
// (4 counters per address slot, atomically); the prom-client counters pick up the deltas when
// scraped. Slots are allocated per address on first use and kept for the data plane's lifetime,
// so a re-owned address continues its series.
import { Counter, type Registry } from "prom-client";
import { COUNTER, COUNTERS_PER_SLOT } from "./socket.ts";

export type Protocol = "arp" | "ndp";

/** Distinct addresses one data plane can count (256 KiB of counters). */
export const MAX_ADDRESSES = 16384;

const DEFINITIONS: ReadonlyArray<[name: string, help: string, index: number]> = [
  ["l2lb_requests_received_total", "ARP requests / neighbour solicitations received for an owned address", COUNTER.requests],
  ["l2lb_responses_sent_total", "ARP replies / neighbour advertisements sent in answer to a request", COUNTER.responses],
  ["l2lb_gratuitous_sent_total", "Gratuitous ARP / unsolicited neighbour advertisements sent", COUNTER.gratuitous],
  ["l2lb_duplicates_seen_total", "Frames in which another station answered for or claimed an owned address", COUNTER.duplicates],
];

export class DataPlaneMetrics {
  /** Written by the native receive threads. */
  readonly counters = new Uint32Array(MAX_ADDRESSES * COUNTERS_PER_SLOT);
  readonly #reported = new Uint32Array(MAX_ADDRESSES * COUNTERS_PER_SLOT);
  readonly #registry: Registry;
  readonly #slots = new Map<string, { slot: number; protocol: Protocol }>();
  readonly #bySlot: Array<{ ip: string; protocol: Protocol }> = [];

  constructor(registry: Registry) {
    this.#registry = registry;
    for (const [name, help, index] of DEFINITIONS) {
      // A previous data plane on the same registry (tests, in-process restarts) owned these names.
      if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
      const { counters } = this;
      const reported = this.#reported;
      const bySlot = this.#bySlot;
      const counter: Counter = new Counter({
        name,
        help,
        labelNames: ["ip", "protocol"],
        registers: [registry],
        collect() {
          bySlot.forEach((a, slot) => {
            const i = slot * COUNTERS_PER_SLOT + index;
            const now = counters[i]!;
            const delta = (now - reported[i]!) >>> 0; // 32-bit wrap-safe
            if (delta > 0) {
              counter.inc({ ip: a.ip, protocol: a.protocol }, delta);
              reported[i] = now;
            }
          });
        },
      });
    }
  }

  /** Counter slot of an address, allocated (with every series at 0) on first use. */
  slot(ip: string, protocol: Protocol): number {
    const known = this.#slots.get(ip);
    if (known) return known.slot;
    const slot = this.#bySlot.length;
    if (slot >= MAX_ADDRESSES) throw new Error(`more than ${MAX_ADDRESSES} distinct addresses`);
    this.#slots.set(ip, { slot, protocol });
    this.#bySlot.push({ ip, protocol });
    for (const [name] of DEFINITIONS) (this.#registry.getSingleMetric(name) as Counter).inc({ ip, protocol }, 0);
    return slot;
  }

  /** Current value of one counter (for logs and tests). */
  value(ip: string, which: keyof typeof COUNTER): number {
    const s = this.#slots.get(ip);
    return s ? this.counters[s.slot * COUNTERS_PER_SLOT + COUNTER[which]]! : 0;
  }

  ipOfSlot(slot: number): string | undefined {
    return this.#bySlot[slot]?.ip;
  }

  close(): void {
    for (const [name] of DEFINITIONS) this.#registry.removeSingleMetric(name);
  }
}
