// Per-address counters. The packet path increments plain numbers on an AddressStats object (no
// label hashing, no allocation); the prom-client counters pick up the deltas when scraped.
import { Counter, type Registry } from "prom-client";
import { AddressStats, type Protocol } from "./protocol.ts";

type Field = "requests" | "responses" | "gratuitous" | "duplicates";

const DEFINITIONS: ReadonlyArray<[name: string, help: string, field: Field]> = [
  ["l2lb_requests_received_total", "ARP requests / neighbour solicitations received for an owned address", "requests"],
  ["l2lb_responses_sent_total", "ARP replies / neighbour advertisements sent in answer to a request", "responses"],
  ["l2lb_gratuitous_sent_total", "Gratuitous ARP / unsolicited neighbour advertisements sent", "gratuitous"],
  ["l2lb_duplicates_seen_total", "Frames in which another station answered for or claimed an owned address", "duplicates"],
];

export class DataPlaneMetrics {
  readonly #registry: Registry;
  readonly #stats = new Map<string, AddressStats>();
  readonly #reported = new Map<AddressStats, Record<Field, number>>();
  readonly #counters: Counter[] = [];

  constructor(registry: Registry) {
    this.#registry = registry;
    for (const [name, help, field] of DEFINITIONS) {
      // A previous data plane on the same registry (tests, restarts in-process) owned these names.
      if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
      const reported = this.#reported;
      const all = this.#stats;
      const counter: Counter = new Counter({
        name,
        help,
        labelNames: ["ip", "protocol"],
        registers: [registry],
        collect() {
          for (const s of all.values()) {
            const r = reported.get(s)!;
            const delta = s[field] - r[field];
            if (delta > 0) {
              counter.inc({ ip: s.ip, protocol: s.protocol }, delta);
              r[field] = s[field];
            }
          }
        },
      });
      this.#counters.push(counter);
    }
  }

  /** Counters of one address; created (with every series at 0) on first use and kept for the process lifetime. */
  stats(ip: string, protocol: Protocol): AddressStats {
    let s = this.#stats.get(ip);
    if (!s) {
      s = new AddressStats(ip, protocol);
      this.#stats.set(ip, s);
      this.#reported.set(s, { requests: 0, responses: 0, gratuitous: 0, duplicates: 0 });
      for (const c of this.#counters) c.inc({ ip, protocol }, 0);
    }
    return s;
  }

  close(): void {
    for (const [name] of DEFINITIONS) this.#registry.removeSingleMetric(name);
  }
}
