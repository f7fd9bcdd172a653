// Loads the native addon (native/packet_socket.c): from the build tree when running from sources,
// or from next to the compiled JavaScript (dist), where `npm run build:native` copies it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Counter layout per address slot in the shared Uint32Array. */
export const COUNTER = { requests: 0, responses: 1, gratuitous: 2, duplicates: 3 } as const;
export const COUNTERS_PER_SLOT = 4;

/** The owned addresses of one interface and the ARP/NDP decision (see native/packet_socket.c). */
export interface Responder {
  /** Answer for `ip` (4 or 16 bytes), counting into `slot`. Effective immediately. */
  add(ip: Buffer, slot: number): void;
  /** Stop answering for `ip`. No answer for it leaves after this returns. */
  remove(ip: Buffer): void;
  /**
   * Answer for `ms` more milliseconds (until the next call); past that neither the receive thread
   * nor `PacketSocket.announce` sends anything. Infinity (the default) removes the deadline.
   */
  answerFor(ms: number): void;
  /** MACs of all our interfaces (n×6 bytes): frames from them are never duplicates. */
  setOurMacs(macs: Buffer): void;
  /**
   * The receive thread's decision for one frame, for tests: the answer's length (written to
   * `out`, ≥128 bytes), 0 for none, or `[slot, mac, protocol]` when the frame shows another
   * station answering for or claiming an owned address.
   */
  handle(frame: Buffer, out: Buffer): number | [number, string, "arp" | "ndp"];
  /** The gratuitous frames `announce` sends for `ip`, for tests. */
  announcement(ip: Buffer): Buffer[];
}

export interface ResponderConstructor {
  new (mac: Buffer, counters: Uint32Array): Responder;
}

/** AF_PACKET socket on one interface, answered by its own receive thread. */
export interface PacketSocket {
  /** Sends the gratuitous ARP request+reply (IPv4) or unsolicited NA (IPv6); frames sent (0 past the answer deadline) or -errno. */
  announce(ip: Buffer, slot: number): number;
  /** Joins (`add`) or leaves a link-layer multicast group; false when the kernel refused. */
  membership(mac: Buffer, add: boolean): boolean;
  /** Adds or drops this socket's promiscuous membership; false when refused. */
  promiscuous(on: boolean): boolean;
  stats(): { received: number; sendErrors: number; priority: "realtime" | "nice" | "default" };
  /** Stops the receive thread and closes the socket (synchronously). */
  close(): void;
}

export interface PacketSocketConstructor {
  new (
    ifindex: number,
    responder: Responder,
    onDuplicate: (slot: number, mac: string, protocol: "arp" | "ndp") => void,
    realtime: boolean,
  ): PacketSocket;
}

export interface Addon {
  Responder: ResponderConstructor;
  PacketSocket: PacketSocketConstructor;
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
