import { EventEmitter } from "node:events";
import type { DataPlaneEvents, DataPlaneOptions, EligibleInterface, OwnedAddress, OwnedBinding, InterfaceSelection } from "./types.ts";

/**
 * One per speaker process. Emits `"duplicate"` ({@link DuplicateEvent}), `"link"`
 * ({@link LinkEvent}) and `"interfaces"` (the eligible set or its addresses changed).
 */
export class DataPlane extends EventEmitter<DataPlaneEvents> {
  /** Opens packet sockets on the selected interfaces and starts watching the interface table. */
  static async open(_opts: DataPlaneOptions): Promise<DataPlane> {
    throw new Error("DataPlane: implementation lands in the next commit");
  }
  /**
   * Declares the complete set of owned addresses. New addresses are answered from now on and
   * announced with a gratuitous burst; addresses no longer listed stop being answered at once.
   * Unchanged addresses are left alone (no new burst). Invalid IPs throw before anything changes.
   */
  setOwned(_addresses: OwnedAddress[]): void {}
  /** Replaces the interface selection given to {@link open}. */
  setInterfaces(_selection: InterfaceSelection | undefined): void {}
  /** Selected interfaces, as last read from the kernel. */
  interfaces(): EligibleInterface[] {
    return [];
  }
  /** Every (address, interface) pair currently answered. */
  owned(): OwnedBinding[] {
    return [];
  }
  /** Stops answering, cancels timers, closes sockets. */
  async close(): Promise<void> {}
}
