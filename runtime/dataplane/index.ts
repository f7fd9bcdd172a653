// The speaker's data plane: answers ARP and NDP for the addresses this node owns, only on the
// interfaces that carry them, and announces them with gratuitous ARP / unsolicited NA.
//
// The control plane drives it declaratively:
//
//   const dp = await DataPlane.open({ logger, registry, interfaces: ["eth0", "can_reach:192.0.2.1"] });
//   dp.on("link", ({ interface: name, up }) => ...);      // give up ownership on link down
//   dp.on("duplicate", ({ ip, mac }) => ...);              // another station claims an owned IP
//   dp.setOwned([{ ip: "192.0.2.10" }, { ip: "2001:db8::10" }]);
//   dp.owned();        // [{ ip: "192.0.2.10", interface: "eth0" }, ...]
//   dp.interfaces();   // [{ name, ifindex, mac, up, addresses, subnets }]
//   await dp.setInterfaces(["eth*"]);                      // change the selection at run time
//   await dp.refresh();                                    // re-read the interface table now
//   await dp.close();
//
// Answers are produced by a native receive thread per interface (native/packet_socket.c);
// JavaScript only keeps the tables, timers and interface watch. See README "Speaker data plane".
//
// Metrics (registered on the given registry, labels {ip, protocol="arp"|"ndp"}):
// l2lb_requests_received_total, l2lb_responses_sent_total, l2lb_gratuitous_sent_total,
// l2lb_duplicates_seen_total.
export type {
  DataPlaneEvents,
  DataPlaneOptions,
  DuplicateEvent,
  EligibleInterface,
  GratuitousOptions,
  InterfaceAddress,
  InterfaceSelection,
  LinkEvent,
  OwnedAddress,
  OwnedBinding,
} from "./types.ts";
export { DataPlane } from "./dataplane.ts";
