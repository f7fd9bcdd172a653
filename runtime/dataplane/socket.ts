// Loads the native packet-socket addon (native/packet_socket.c), from the build tree when running
// from sources, or from next to the compiled JavaScript (dist) where `npm run build:native` copies it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** An AF_PACKET socket bound to one interface; see native/packet_socket.c for the contract. */
export interface PacketSocket {
  /** Receive ring: packet i of a batch starts at i * SLOT_SIZE. */
  readonly rx: Buffer;
  /** [wire length, sll_pkttype] per packet of the batch; length > SLOT_SIZE means truncated. */
  readonly meta: Int32Array;
  /** Transmit buffer. */
  readonly tx: Buffer;
  /** Sends the first `length` bytes of `tx`; returns bytes sent or -errno. */
  send(length: number): number;
  /** Joins (`add`) or leaves a link-layer multicast group; false when the kernel refused. */
  membership(mac: Buffer, add: boolean): boolean;
  /** Adds or drops this socket's promiscuous-mode membership; false when refused. */
  promiscuous(on: boolean): boolean;
  /** Stops receiving and closes the descriptor (asynchronously, on the next loop turn). */
  close(): void;
}

export interface PacketSocketConstructor {
  new (ifindex: number, onPackets: (this: PacketSocket, count: number) => void): PacketSocket;
}

interface Addon {
  PacketSocket: PacketSocketConstructor;
  SLOTS: number;
  SLOT_SIZE: number;
}

const candidates = ["./native/l2lb_packet.node", "./native/build/Release/l2lb_packet.node"];
let addon: Addon | undefined;

/** The addon, loaded on first use; throws with a build hint when it was never compiled. */
export function loadAddon(): Addon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  for (const rel of candidates) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return (addon = require(path) as Addon);
  }
  throw new Error(`l2lb packet addon not built (looked for ${candidates.join(", ")} next to ${fileURLToPath(import.meta.url)}); run \`npm run build:native\``);
}
