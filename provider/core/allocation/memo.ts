/**
 * What one caller's successive plans may share: the compiled pools while the configuration is
 * unchanged, each Service request's parse and unit, each unit's reading of its previous
 * assignment, and the outcome text of a kept assignment. With it, a plan in which most Services
 * keep their addresses costs a few map lookups per Service instead of parsing, validating and
 * formatting every address again — the in-cluster allocator plans after every burst of changes.
 *
 * Every cached value is what the uncached code computes from the same arguments, so a plan with a
 * memo equals a plan without one (session.test.ts checks that over random sequences of inputs). The
 * caller must not modify a request object after passing it: entries are keyed by object identity.
 */
import type { Address } from "../ip/index.ts";
import type { PreviousRead, Kept } from "./previous.ts";
import type { ParsedService } from "./requests.ts";
import type { Assignment, ConfigProblem, ServiceOutcome, ServiceRequest } from "./types.ts";
import type { PoolContext, Unit } from "./units.ts";

/** The compiled configuration, and the problems compiling it found. */
export interface CompiledConfig {
  ctx: PoolContext;
  problems: ConfigProblem[];
}

/** A request's parse: the Service (when valid) and its problems. */
export interface ParsedRequest {
  parsed: ParsedService | undefined;
  problems: readonly ConfigProblem[];
}

/** A unit's reading of one previous assignment under one configuration. */
export interface PreviousReading {
  read: PreviousRead;
  kept: Kept | string;
}

export class AllocationMemo {
  private configKey: string | undefined;
  private config: CompiledConfig | undefined;
  /** Bumped whenever the configuration changes: readings made under another are stale. */
  private generation = 0;
  private readonly parses = new WeakMap<object, ParsedRequest>();
  private readonly units = new WeakMap<ParsedService, Unit>();
  private readonly readings = new WeakMap<Unit, { generation: number; key: string; reading: PreviousReading }>();
  private readonly outcomes = new WeakMap<readonly Address[], ServiceOutcome>();

  /** The configuration compiled for `key`, compiling it (and dropping readings of any other) when new. */
  compiled(key: string, compile: () => CompiledConfig): CompiledConfig {
    if (this.config === undefined || this.configKey !== key) {
      this.config = compile();
      this.configKey = key;
      this.generation++;
    }
    return this.config;
  }

  parse(raw: ServiceRequest, compute: () => ParsedRequest): ParsedRequest {
    if (raw === null || typeof raw !== "object") return compute();
    let entry = this.parses.get(raw);
    if (entry === undefined) this.parses.set(raw, (entry = compute()));
    return entry;
  }

  unit(parsed: ParsedService, make: () => Unit): Unit {
    let unit = this.units.get(parsed);
    if (unit === undefined) this.units.set(parsed, (unit = make()));
    return unit;
  }

  /** A single-Service unit's reading of its previous assignment (groups merge several: not cached). */
  reading(u: Unit, prev: Assignment, compute: () => PreviousReading): PreviousReading {
    const key = assignmentKey(prev);
    if (key === undefined || u.members.length !== 1) return compute();
    const entry = this.readings.get(u);
    if (entry !== undefined && entry.generation === this.generation && entry.key === key) return entry.reading;
    const reading = compute();
    this.readings.set(u, { generation: this.generation, key, reading });
    return reading;
  }

  /** The outcome of a single-Service unit placed on `ips` (an array a cached reading holds). */
  outcome(ips: readonly Address[], compute: () => ServiceOutcome): ServiceOutcome {
    let outcome = this.outcomes.get(ips);
    if (outcome === undefined) this.outcomes.set(ips, (outcome = compute()));
    return outcome;
  }
}

/** A previous assignment as comparable text, or `undefined` when it is not plain text (then never cached). */
export function assignmentKey(prev: Assignment): string | undefined {
  if (prev === null || typeof prev !== "object" || !Array.isArray(prev.ips) || typeof prev.pool !== "string" || prev.ips.some((ip) => typeof ip !== "string")) return undefined;
  return `${prev.pool}\u0000${prev.ips.join(",")}`;
}
