// Per-address counters. The receive threads increment a Uint32Array shared with the native addon
// (4 counters per address slot, atomically); at each scrape the deltas are added to 64-bit totals
// and the series are built from the slots. Slots are allocated per address on first use and kept
// for the data plane's lifetime, so a re-owned address continues its series. prom-client's own
// per-series storage is not used: at 10,000 addresses its 40,000 label sets held 6 MB of heap.
import { Counter, type MetricObjectWithValues, type MetricValue, type Registry } from "prom-client";
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

type Labels = "ip" | "protocol";

/** A counter whose series are the data plane's slots, read at scrape time. */
class SlotCounter extends Counter<Labels> {
  readonly #values: (slot: number) => number;
  readonly #slots: () => ReadonlyArray<{ ip: string; protocol: Protocol }>;

  constructor(name: string, help: string, registry: Registry, slots: () => ReadonlyArray<{ ip: string; protocol: Protocol }>, values: (slot: number) => number) {
    super({ name, help, labelNames: ["ip", "protocol"], registers: [registry] });
    this.#slots = slots;
    this.#values = values;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<Labels>>> {
    // The base gives name, help and type (its own series map stays empty).
    const base = await super.get();
    return { ...base, values: this.#slots().map((a, slot) => ({ labels: { ip: a.ip, protocol: a.protocol }, value: this.#values(slot) })) };
  }
}

export class DataPlaneMetrics {
  /** Written by the native receive threads. */
  readonly counters = new Uint32Array(MAX_ADDRESSES * COUNTERS_PER_SLOT);
  readonly #reported = new Uint32Array(MAX_ADDRESSES * COUNTERS_PER_SLOT);
  /** Totals since the slot was allocated (the native counters wrap at 2^32). */
  readonly #totals = new Float64Array(MAX_ADDRESSES * COUNTERS_PER_SLOT);
  readonly #registry: Registry;
  readonly #slots = new Map<string, number>();
  readonly #bySlot: Array<{ ip: string; protocol: Protocol }> = [];

  constructor(registry: Registry) {
    this.#registry = registry;
    for (const [name, help, index] of DEFINITIONS) {
      // A previous data plane on the same registry (tests, in-process restarts) owned these names.
      if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
      new SlotCounter(name, help, registry, () => this.#bySlot, (slot) => this.#total(slot * COUNTERS_PER_SLOT + index));
    }
  }

  /** The running total of one counter, after adding what the native side counted since the last read. */
  #total(i: number): number {
    const now = this.counters[i]!;
    this.#totals[i]! += (now - this.#reported[i]!) >>> 0; // 32-bit wrap-safe
    this.#reported[i] = now;
    return this.#totals[i]!;
  }

  /** Counter slot of an address, allocated (with every series at 0) on first use. */
  slot(ip: string, protocol: Protocol): number {
    const known = this.#slots.get(ip);
    if (known !== undefined) return known;
    const slot = this.#bySlot.length;
    if (slot >= MAX_ADDRESSES) throw new Error(`more than ${MAX_ADDRESSES} distinct addresses`);
    this.#slots.set(ip, slot);
    this.#bySlot.push({ ip, protocol });
    return slot;
  }

  /** Current value of one counter (for logs and tests). */
  value(ip: string, which: keyof typeof COUNTER): number {
    const s = this.#slots.get(ip);
    return s !== undefined ? this.counters[s * COUNTERS_PER_SLOT + COUNTER[which]]! : 0;
  }

  ipOfSlot(slot: number): string | undefined {
    return this.#bySlot[slot]?.ip;
  }

  close(): void {
    for (const [name] of DEFINITIONS) this.#registry.removeSingleMetric(name);
  }
}
