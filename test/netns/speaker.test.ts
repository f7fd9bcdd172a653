// The speaker in static mode, with the kernel as its client: bridge + veth network namespaces,
// `arping`, `ndisc6`, `ip neigh` and the kernel's own neighbour unreachability detection.
import assert from "node:assert/strict";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { Lab, eventually, skipReason } from "./netns.ts";

const skip = await skipReason();
const MAIN = fileURLToPath(new URL("../../runtime/speaker/main.ts", import.meta.url));
const UNICAST_NS = fileURLToPath(new URL("./unicast_ns.py", import.meta.url));
const METRICS_PORT = 9477;

interface LogLine {
  msg: string;
  [k: string]: unknown;
}

describe("speaker in network namespaces", { skip, timeout: 180_000 }, () => {
  const lab = new Lab("l2sp");
  let S = "", C = "", D = "", B = "";
  let speakerMac = "", vlanMac = "", clientMac = "";
  /** Set when this kernel cannot create 802.1Q sub-interfaces (CONFIG_VLAN_8021Q off). */
  let noVlan: string | undefined;
  let dir = "", file = "";
  let speaker: ChildProcess | undefined;
  const logs: LogLine[] = [];
  const owned = ["192.0.2.100", "2001:db8::100", "198.51.100.100", "2001:db8:100::100"];

  const writeConfig = (addresses: string[]): Promise<void> =>
    writeFile(file, `# test configuration\ninterfaces: [eth0, eth0.100, eth2]\naddresses:\n${addresses.map((a) => `  - "${a}"`).join("\n")}\n`);
  const logged = (msg: string, pred: (l: LogLine) => boolean = () => true): boolean => logs.some((l) => l.msg === msg && pred(l));
  const metric = async (name: string, ip: string): Promise<number> => {
    const { stdout } = await lab.exec(S, `curl -sf http://127.0.0.1:${METRICS_PORT}/metrics`);
    const m = new RegExp(`^${name}\\{ip="${ip.replace(/\./g, "\\.")}",protocol="(arp|ndp)"\\} (\\d+)$`, "m").exec(stdout);
    return m ? Number(m[2]) : NaN;
  };
  const arping = async (ns: string, dev: string, ip: string, count = 2): Promise<string[]> => {
    const { stdout } = await lab.exec(ns, `arping -c ${count} -w ${count + 1} -I ${dev} ${ip}`, { allowFail: true });
    return [...stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]+)\]/g)].map((m) => m[1]!.toLowerCase());
  };
  const ndisc = async (ns: string, dev: string, ip: string): Promise<string | undefined> => {
    const { stdout } = await lab.exec(ns, `ndisc6 -n -r 2 -w 500 ${ip} ${dev}`, { allowFail: true });
    return /Target link-layer address: ([0-9A-Fa-f:]+)/.exec(stdout)?.[1]?.toLowerCase();
  };
  const neigh = async (ns: string, ip: string): Promise<{ lladdr?: string; state?: string[] } | undefined> => {
    const { stdout } = await lab.exec(ns, `ip -j neigh show ${ip} dev eth0`);
    return (JSON.parse(stdout || "[]") as Array<{ lladdr?: string; state?: string[] }>)[0];
  };

  before(async () => {
    try {
      B = await lab.addBridge("b", "br0");
      await lab.addBridge("b", "br1");
      S = await lab.addNamespace("s");
      C = await lab.addNamespace("c");
      D = await lab.addNamespace("d");
      await lab.attach(S, "eth0", B, "br0");
      await lab.attach(S, "eth1", B, "br1");
      await lab.attach(C, "eth0", B, "br0");
      await lab.attach(D, "eth0", B, "br1");
      for (const [ns, host] of [[S, 1], [C, 2]] as const) {
        await lab.exec(ns, `ip addr add 192.0.2.${host}/24 dev eth0`);
        await lab.exec(ns, `ip addr add 2001:db8::${host}/64 dev eth0 nodad`);
        const vlan = await lab.exec(ns, `ip link add link eth0 name eth0.100 type vlan id 100`, { allowFail: true });
        if (vlan.code !== 0) {
          noVlan = `this kernel cannot create VLAN sub-interfaces (${vlan.stderr.trim()}): 802.1Q support (CONFIG_VLAN_8021Q) missing`;
          continue;
        }
        await lab.exec(ns, `ip link set eth0.100 up`);
        await lab.exec(ns, `ip addr add 198.51.100.${host}/24 dev eth0.100`);
        await lab.exec(ns, `ip addr add 2001:db8:100::${host}/64 dev eth0.100 nodad`);
      }
      await lab.exec(S, "ip addr add 203.0.113.1/24 dev eth1");
      await lab.exec(D, "ip addr add 203.0.113.2/24 dev eth0");
      await lab.exec(D, "ip addr add 2001:db8:200::2/64 dev eth0 nodad");
      // The VLAN sub-interface gets its own MAC so that answering with the wrong one shows.
      speakerMac = await lab.mac(S, "eth0");
      if (!noVlan) {
        await lab.exec(S, "ip link set eth0.100 address 02:00:00:00:01:00");
        vlanMac = await lab.mac(S, "eth0.100");
      }
      clientMac = await lab.mac(C, "eth0");
      dir = await mkdtemp(join(tmpdir(), "l2lb-speaker-"));
      file = join(dir, "speaker.yaml");
      await writeConfig(owned);
      speaker = lab.spawn(S, [process.execPath, MAIN, "--static", file, "--metrics-port", String(METRICS_PORT), "--log-level", "debug"]);
      let buf = "";
      speaker.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            logs.push(JSON.parse(line) as LogLine);
          } catch {
            logs.push({ msg: line });
          }
        }
      });
      speaker.stderr!.on("data", (d: Buffer) => logs.push({ msg: `stderr: ${d.toString()}` }));
      const up = await eventually(async () => logged("serving /metrics and /healthz"), 10_000);
      assert.ok(up, `speaker did not start: ${JSON.stringify(logs)}`);
    } catch (err) {
      await lab.teardown();
      throw err;
    }
  });

  after(async () => {
    await lab.teardown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("arping resolves the address to the speaker's MAC, and only to it", async () => {
    const macs = await arping(C, "eth0", "192.0.2.100", 3);
    assert.equal(macs.length, 3);
    assert.deepEqual(new Set(macs), new Set([speakerMac]));
  });

  it("the client kernel's neighbour table resolves the address (IPv4 and IPv6)", async () => {
    await lab.exec(C, "ping -c1 -W1 192.0.2.100", { allowFail: true });
    await lab.exec(C, "ping -6 -c1 -W1 2001:db8::100", { allowFail: true });
    for (const ip of ["192.0.2.100", "2001:db8::100"]) {
      const n = await neigh(C, ip);
      assert.equal(n?.lladdr, speakerMac, `${ip}: ${JSON.stringify(n)}`);
      assert.ok(!n?.state?.includes("FAILED") && !n?.state?.includes("INCOMPLETE"), JSON.stringify(n));
    }
  });

  it("ndisc6 gets a neighbour advertisement with the speaker's MAC", async () => {
    assert.equal(await ndisc(C, "eth0", "2001:db8::100"), speakerMac);
  });

  it("the speaker's interface has joined the solicited-node group of each owned IPv6 address", async () => {
    const { stdout } = await lab.exec(S, "ip maddr show dev eth0");
    assert.match(stdout, /link\s+33:33:ff:00:01:00\b/);
  });

  it("unicast solicitations to the address itself are answered (neighbour unreachability detection)", async () => {
    // The kernel's own NUD: an entry in PROBE state is confirmed only by answers to unicast probes.
    for (const ip of ["2001:db8::100", "192.0.2.100"]) {
      await lab.exec(C, `ip neigh replace ${ip} lladdr ${speakerMac} dev eth0 nud probe`);
      const n = await eventually(async () => {
        const e = await neigh(C, ip);
        return e?.state?.includes("REACHABLE") ? e : undefined;
      }, 5000);
      assert.ok(n, `${ip} did not become REACHABLE: ${JSON.stringify(await neigh(C, ip))}`);
    }
    const { stdout } = await lab.exec(C, `python3 ${UNICAST_NS} eth0 2001:db8::100 ${speakerMac} 20`);
    assert.match(stdout, /^sent=20 replies=20$/m);
  });

  it("addresses it does not own get no answer", async () => {
    assert.deepEqual(await arping(C, "eth0", "192.0.2.150"), []);
    assert.equal(await ndisc(C, "eth0", "2001:db8::150"), undefined);
  });

  it("interfaces not selected stay silent", async () => {
    // D sits on the LAN of eth1, which the configuration does not list.
    assert.deepEqual(await arping(D, "eth0", "192.0.2.100"), []);
    assert.deepEqual(await arping(D, "eth0", "198.51.100.100"), []);
    assert.equal(await ndisc(D, "eth0", "2001:db8::100"), undefined);
  });

  it("a VLAN sub-interface answers with its own MAC; the untagged parent does not answer for it", async (t) => {
    if (noVlan) {
      t.skip(noVlan);
      return;
    }
    assert.deepEqual(new Set(await arping(C, "eth0.100", "198.51.100.100")), new Set([vlanMac]));
    assert.equal(await ndisc(C, "eth0.100", "2001:db8:100::100"), vlanMac);
    assert.deepEqual(await arping(C, "eth0", "198.51.100.100"), []);
    assert.equal(await ndisc(C, "eth0", "2001:db8:100::100"), undefined);
    // And the VLAN does not answer for the parent's address.
    assert.deepEqual(await arping(C, "eth0.100", "192.0.2.100"), []);
  });

  it("the gratuitous burst corrects a client's existing neighbour entry without the client asking", async () => {
    const stale = "02:00:00:00:00:99";
    await lab.exec(C, `ip neigh replace 192.0.2.101 lladdr ${stale} dev eth0 nud stale`);
    await lab.exec(C, `ip neigh replace 2001:db8::101 lladdr ${stale} dev eth0 nud stale`);
    await writeConfig([...owned, "192.0.2.101", "2001:db8::101"]);
    const fixed = await eventually(async () => {
      const [a, b] = [await neigh(C, "192.0.2.101"), await neigh(C, "2001:db8::101")];
      return a?.lladdr === speakerMac && b?.lladdr === speakerMac;
    }, 8000);
    assert.ok(fixed, `entries not corrected: ${JSON.stringify([await neigh(C, "192.0.2.101"), await neigh(C, "2001:db8::101")])}`);
    // Entries updated by announcements stay STALE: the client never resolved them itself.
    assert.ok((await neigh(C, "192.0.2.101"))?.state?.includes("STALE"));
    assert.ok((await metric("l2lb_gratuitous_sent_total", "192.0.2.101")) >= 2);
    assert.ok((await metric("l2lb_gratuitous_sent_total", "2001:db8::101")) >= 1);
  });

  it("a released address is no longer answered", async () => {
    await writeConfig(owned);
    const gone = await eventually(async () => logged("address released", (l) => l.ip === "192.0.2.101"), 5000);
    assert.ok(gone);
    assert.deepEqual(await arping(C, "eth0", "192.0.2.101"), []);
    assert.equal(await ndisc(C, "eth0", "2001:db8::101"), undefined);
    // Its solicited-node group was left; the remaining address's group stays.
    const { stdout } = await lab.exec(S, "ip maddr show dev eth0");
    assert.doesNotMatch(stdout, /33:33:ff:00:01:01/);
    assert.match(stdout, /33:33:ff:00:01:00/);
    assert.deepEqual(new Set(await arping(C, "eth0", "192.0.2.100", 1)), new Set([speakerMac]));
  });

  it("802.1Q-tagged requests are not answered on the untagged parent interface", async () => {
    const before = await metric("l2lb_requests_received_total", "192.0.2.100");
    const mac = clientMac.replace(/:/g, "");
    // who-has 192.0.2.100 tell 192.0.2.2, tagged VLAN 100, broadcast; then the same untagged.
    const body = `m+socket.inet_aton('192.0.2.2')+b'\\x00'*6+socket.inet_aton('192.0.2.100')`;
    await lab.exec(C, `python3 -c "import socket;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('eth0',0));m=bytes.fromhex('${mac}');[s.send(b'\\xff'*6+m+b'\\x81\\x00\\x00\\x64\\x08\\x06'+bytes([0,1,8,0,6,4,0,1])+${body}) for _ in range(5)]"`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await metric("l2lb_requests_received_total", "192.0.2.100"), before, "a tagged request reached the responder");
    await lab.exec(C, `python3 -c "import socket;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('eth0',0));m=bytes.fromhex('${mac}');s.send(b'\\xff'*6+m+b'\\x08\\x06'+bytes([0,1,8,0,6,4,0,1])+${body})"`);
    assert.ok(await eventually(async () => (await metric("l2lb_requests_received_total", "192.0.2.100")) === before + 1, 2000), "the untagged control request was not counted");
  });

  it("another station claiming an owned address is logged and counted", async () => {
    const before = await metric("l2lb_duplicates_seen_total", "192.0.2.100");
    const mac = clientMac.replace(/:/g, "");
    // A gratuitous ARP reply from the client claiming 192.0.2.100.
    await lab.exec(C, `python3 -c "import socket;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('eth0',0));m=bytes.fromhex('${mac}');ip=socket.inet_aton('192.0.2.100');s.send(b'\\xff'*6+m+b'\\x08\\x06'+bytes([0,1,8,0,6,4,0,2])+m+ip+b'\\xff'*6+ip)"`);
    const seen = await eventually(async () => logged("another station answers for or claims an owned address", (l) => l.ip === "192.0.2.100" && l.mac === clientMac), 3000);
    assert.ok(seen);
    assert.equal(await metric("l2lb_duplicates_seen_total", "192.0.2.100"), before + 1);
  });

  it("counts requests and responses per address", async () => {
    const req = await metric("l2lb_requests_received_total", "2001:db8::100");
    const res = await metric("l2lb_responses_sent_total", "2001:db8::100");
    assert.ok(req >= 20 && res >= 20, `requests=${req} responses=${res}`);
    await ndisc(C, "eth0", "2001:db8::100");
    assert.ok((await metric("l2lb_requests_received_total", "2001:db8::100")) > req);
  });

  it("warns when kube-proxy's IPVS dummy interface exists without strict ARP", async () => {
    await lab.exec(S, "ip link add kube-ipvs0 type bridge");
    const warned = await eventually(async () => logs.some((l) => typeof l.msg === "string" && l.msg.startsWith("kube-ipvs0 present")), 5000);
    assert.ok(warned, "no strictARP warning");
    await lab.exec(S, "ip link del kube-ipvs0");
  });

  it("follows an interface appearing, going down and up, and disappearing at run time", async () => {
    // eth2 is listed in the configuration but does not exist yet.
    await lab.attach(S, "eth2", B, "br1");
    await lab.exec(S, "ip addr add 203.0.113.3/24 dev eth2");
    const eth2Mac = await lab.mac(S, "eth2");
    assert.ok(await eventually(async () => logged("interface selected", (l) => l.interface === "eth2"), 5000), "eth2 not picked up");
    await writeConfig([...owned, "203.0.113.100"]);
    // Bound by subnet to eth2 only: D (on eth2's LAN) gets the answer, C does not.
    const macs = await eventually(async () => {
      const m = await arping(D, "eth0", "203.0.113.100", 1);
      return m.length ? m : undefined;
    }, 5000);
    assert.deepEqual(macs, [eth2Mac]);
    assert.deepEqual(await arping(C, "eth0", "203.0.113.100", 1), []);

    const sentBefore = await metric("l2lb_gratuitous_sent_total", "203.0.113.100");
    await lab.exec(S, "ip link set eth2 down");
    assert.ok(await eventually(async () => logged("link state", (l) => l.interface === "eth2" && l.up === false), 5000), "link down not seen");
    await lab.exec(S, "ip link set eth2 up");
    assert.ok(await eventually(async () => logged("link state", (l) => l.interface === "eth2" && l.up === true), 5000), "link up not seen");
    // Coming back up re-announces.
    assert.ok(await eventually(async () => (await metric("l2lb_gratuitous_sent_total", "203.0.113.100")) > sentBefore, 3000));

    await lab.exec(S, "ip link del eth2");
    assert.ok(await eventually(async () => logged("interface gone", (l) => l.interface === "eth2"), 5000), "removal not seen");
    assert.deepEqual(await arping(D, "eth0", "203.0.113.100", 1), []);
    // Still serving the rest.
    assert.deepEqual(await arping(C, "eth0", "192.0.2.100", 1), [speakerMac]);
    assert.equal(speaker?.exitCode, null);
  });
});
