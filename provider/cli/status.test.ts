import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  NOT_WRITTEN_YET,
  WAITING_FOR_ALLOCATOR,
  parseAnnouncedBy,
  poolState,
  readClusterSnapshot,
  renderStatusTable,
  statusCommand,
  statusReport,
} from "./status.ts";
import type { ClusterSnapshot, EventObject, PoolObject, ServiceObject, StatusReport } from "./status.ts";

const CLASS = "l2lb.dev/layer2";

interface ServiceFixture {
  namespace?: string;
  uid?: string;
  type?: string;
  loadBalancerClass?: string;
  annotations?: Record<string, string>;
  ingress?: string[];
}

function service(name: string, f: ServiceFixture = {}): ServiceObject {
  const spec: ServiceObject["spec"] = { type: f.type ?? "LoadBalancer" };
  if (f.loadBalancerClass !== undefined) spec.loadBalancerClass = f.loadBalancerClass;
  return {
    metadata: { namespace: f.namespace ?? "default", name, uid: f.uid, annotations: f.annotations ?? {} },
    spec,
    status: { loadBalancer: { ingress: (f.ingress ?? []).map((ip) => ({ ip })) } },
  };
}

function warning(serviceName: string, reason: string, message: string, at: string, extra: { namespace?: string; uid?: string } = {}): EventObject {
  return {
    involvedObject: { kind: "Service", namespace: extra.namespace ?? "default", name: serviceName, uid: extra.uid },
    type: "Warning",
    reason,
    message,
    lastTimestamp: new Date(at),
  };
}

function pool(name: string, addresses: string[], status?: PoolObject["status"]): PoolObject {
  return { metadata: { name }, spec: { addresses }, ...(status ? { status } : {}) };
}

function snapshot(parts: Partial<ClusterSnapshot>): ClusterSnapshot {
  return { services: [], pools: [], events: [], defaultClass: false, ...parts };
}

const stackNginx = service("nginx", {
  loadBalancerClass: CLASS,
  annotations: { "l2lb.dev/load-balancer-ips": "192.168.28.210", "l2lb.dev/address-pool": "first-pool", "l2lb.dev/announced-by": "192.168.28.210=node-a/eth0" },
  ingress: ["192.168.28.210"],
});

describe("statusReport: assigned Services", () => {
  const cases: { name: string; services: ServiceObject[]; defaultClass?: boolean; want: StatusReport["services"] }[] = [
    {
      name: "a stack's Service, announced by node-a on eth0",
      services: [stackNginx],
      want: [{ service: "default/nginx", pool: "first-pool", madeBy: "stack", addresses: [{ ip: "192.168.28.210", announcedBy: { node: "node-a", interfaces: ["eth0"] }, inIngress: true }] }],
    },
    {
      name: "an in-cluster dual-stack assignment, IPv6 announced on two interfaces, IPv4 not announced",
      services: [
        service("dual", {
          namespace: "web",
          loadBalancerClass: CLASS,
          annotations: {
            "l2lb.dev/load-balancer-ips": "192.0.2.10, 2001:DB8:0::10",
            "l2lb.dev/address-pool": "dual",
            "l2lb.dev/allocated-by": "cluster",
            "l2lb.dev/announced-by": "2001:db8::10=node-b/eth0+eth1",
          },
          ingress: ["192.0.2.10", "2001:db8::10"],
        }),
      ],
      want: [
        {
          service: "web/dual",
          pool: "dual",
          madeBy: "in-cluster",
          addresses: [
            { ip: "192.0.2.10", announcedBy: null, inIngress: true },
            { ip: "2001:db8::10", announcedBy: { node: "node-b", interfaces: ["eth0", "eth1"] }, inIngress: true },
          ],
        },
      ],
    },
    {
      name: "sorted by namespace/name; Services of another class, not LoadBalancer, or without a class are left out",
      services: [
        service("z", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.2" } }),
        service("a", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.1" } }),
        service("metallb", { loadBalancerClass: "metallb.io/metallb", annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.3" } }),
        service("cluster-ip", { type: "ClusterIP", loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.4" } }),
        service("classless", { annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.5" } }),
      ],
      want: [
        { service: "default/a", pool: null, madeBy: "stack", addresses: [{ ip: "192.0.2.1", announcedBy: null, inIngress: false }] },
        { service: "default/z", pool: null, madeBy: "stack", addresses: [{ ip: "192.0.2.2", announcedBy: null, inIngress: false }] },
      ],
    },
    {
      name: "with defaultClass, Services without a class count",
      defaultClass: true,
      services: [service("classless", { annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.5", "l2lb.dev/address-pool": "p" }, ingress: ["192.0.2.5"] })],
      want: [{ service: "default/classless", pool: "p", madeBy: "stack", addresses: [{ ip: "192.0.2.5", announcedBy: null, inIngress: true }] }],
    },
    {
      name: "an in-cluster assignment on a classless Service shows the installation serves them, without the flag",
      services: [
        service("classless", { annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.5", "l2lb.dev/address-pool": "p", "l2lb.dev/allocated-by": "cluster" }, ingress: ["192.0.2.5"] }),
      ],
      want: [{ service: "default/classless", pool: "p", madeBy: "in-cluster", addresses: [{ ip: "192.0.2.5", announcedBy: null, inIngress: true }] }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(statusReport(snapshot({ services: c.services, defaultClass: c.defaultClass ?? false })).services, c.want);
    });
  }
});

describe("statusReport: pending Services", () => {
  const cases: { name: string; services: ServiceObject[]; events?: EventObject[]; defaultClass?: boolean; want: StatusReport["pending"] }[] = [
    {
      name: "no event yet: waiting for the allocator",
      services: [service("web", { loadBalancerClass: CLASS })],
      want: [{ service: "default/web", reason: WAITING_FOR_ALLOCATOR }],
    },
    {
      name: "the latest AllocationFailed message is the reason",
      services: [service("web", { loadBalancerClass: CLASS, uid: "u1" })],
      events: [
        warning("web", "AllocationFailed", "older reason", "2025-01-01T10:00:00Z"),
        warning("web", "AllocationFailed", 'Service "default/web" requests pool "gold", which does not exist; name one of the pools ("first-pool").', "2025-01-01T11:00:00Z", { uid: "u1" }),
        warning("web", "AddressRefused", "not the reason for a pending Service", "2025-01-01T12:00:00Z"),
      ],
      want: [{ service: "default/web", reason: 'Service "default/web" requests pool "gold", which does not exist; name one of the pools ("first-pool").' }],
    },
    {
      name: "events of another namespace, another Service or an earlier Service of the same name do not count",
      services: [service("web", { loadBalancerClass: CLASS, uid: "new" })],
      events: [
        warning("web", "AllocationFailed", "other namespace", "2025-01-01T10:00:00Z", { namespace: "prod" }),
        warning("api", "AllocationFailed", "other Service", "2025-01-01T10:00:00Z"),
        warning("web", "AllocationFailed", "deleted predecessor", "2025-01-01T10:00:00Z", { uid: "old" }),
      ],
      want: [{ service: "default/web", reason: WAITING_FOR_ALLOCATOR }],
    },
    {
      name: "classless Services are pending only when the installation serves them",
      services: [service("classless")],
      defaultClass: true,
      want: [{ service: "default/classless", reason: WAITING_FOR_ALLOCATOR }],
    },
    {
      name: "without defaultClass a classless Service is another implementation's",
      services: [service("classless")],
      want: [],
    },
    {
      name: "an empty assignment annotation is no assignment",
      services: [service("web", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": " " } })],
      want: [{ service: "default/web", reason: WAITING_FOR_ALLOCATOR }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const report = statusReport(snapshot({ services: c.services, events: c.events ?? [], defaultClass: c.defaultClass ?? false }));
      assert.deepEqual(report.pending, c.want);
    });
  }
});

describe("statusReport: assigned addresses missing from the ingress", () => {
  const cases: { name: string; services: ServiceObject[]; events?: EventObject[]; want: StatusReport["missingFromIngress"] }[] = [
    {
      name: "every address in the ingress: nothing listed",
      services: [stackNginx],
      want: [],
    },
    {
      name: "the IPv6 address is missing and no event explains it",
      services: [service("dual", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.10,2001:db8::10" }, ingress: ["192.0.2.10"] })],
      want: [{ service: "default/dual", addresses: ["2001:db8::10"], reason: NOT_WRITTEN_YET }],
    },
    {
      name: "the latest AddressRefused or AddressConflict message is the reason",
      services: [service("web", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "10.0.0.1" } })],
      events: [
        warning("web", "AddressRefused", "10.0.0.1 lies in no pool that admits default/web", "2025-01-01T10:00:00Z"),
        warning("web", "AddressConflict", 'default/web claims 10.0.0.1, which default/api holds', "2025-01-01T11:00:00Z"),
      ],
      want: [{ service: "default/web", addresses: ["10.0.0.1"], reason: "default/web claims 10.0.0.1, which default/api holds" }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(statusReport(snapshot({ services: c.services, events: c.events ?? [] })).missingFromIngress, c.want);
    });
  }
});

describe("poolState", () => {
  const cases: { name: string; pool: PoolObject; want: ReturnType<typeof poolState> }[] = [
    {
      name: "usage from the speakers' status",
      pool: pool("first-pool", ["192.168.28.210-192.168.28.220"], { addresses: "11", assigned: 2, announced: 1, services: 3 }),
      want: { name: "first-pool", total: "11", assigned: 2, announced: 1, services: 3, usable: true, reason: null, message: null },
    },
    {
      name: "no status yet: the total from the spec (a /64 exactly), counts unknown",
      pool: pool("v6", ["2001:db8::/64", "192.0.2.0/30", "not an address"]),
      want: { name: "v6", total: (2n ** 64n + 4n).toString(), assigned: null, announced: null, services: null, usable: true, reason: null, message: null },
    },
    {
      name: "Usable False: set aside with the reason and message",
      pool: pool("orphan", ["192.0.2.0/24"], {
        addresses: "256",
        conditions: [{ type: "Usable", status: "False", reason: "NotAdvertised", message: 'AddressPool "orphan" is not used: no L2Advertisement announces it.' }],
      }),
      want: { name: "orphan", total: "256", assigned: null, announced: null, services: null, usable: false, reason: "NotAdvertised", message: 'AddressPool "orphan" is not used: no L2Advertisement announces it.' },
    },
    {
      name: "Usable True and other conditions: usable",
      pool: pool("ok", ["192.0.2.1"], { conditions: [{ type: "Other", status: "False" }, { type: "Usable", status: "True", reason: "Valid" }] }),
      want: { name: "ok", total: "1", assigned: null, announced: null, services: null, usable: true, reason: null, message: null },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(poolState(c.pool), c.want));

  it("pools are sorted by name in the report", () => {
    const report = statusReport(snapshot({ pools: [pool("b", ["192.0.2.2"]), pool("a", ["192.0.2.1"])] }));
    assert.deepEqual(report.pools.map((p) => p.name), ["a", "b"]);
  });
});

describe("parseAnnouncedBy", () => {
  const cases: { value: string | undefined; want: [string, { node: string; interfaces: string[] }][] }[] = [
    { value: undefined, want: [] },
    { value: "192.0.2.10=node-a/eth0,2001:db8::10=node-b/eth0", want: [["192.0.2.10", { node: "node-a", interfaces: ["eth0"] }], ["2001:db8::10", { node: "node-b", interfaces: ["eth0"] }]] },
    { value: "192.0.2.10=node-a/eth0+eth0.100", want: [["192.0.2.10", { node: "node-a", interfaces: ["eth0", "eth0.100"] }]] },
    { value: "junk,=node/eth0,192.0.2.1=no-slash,192.0.2.2=/eth0", want: [] },
  ];
  for (const c of cases) it(JSON.stringify(c.value), () => assert.deepEqual([...parseAnnouncedBy(c.value)], c.want));
});

describe("renderStatusTable", () => {
  it("shows Services per address, pools, pools set aside, pending Services and ingress gaps", () => {
    const report = statusReport(
      snapshot({
        services: [
          stackNginx,
          service("api", { loadBalancerClass: CLASS, annotations: { "l2lb.dev/load-balancer-ips": "192.168.28.211", "l2lb.dev/address-pool": "first-pool", "l2lb.dev/allocated-by": "cluster" } }),
          service("web", { loadBalancerClass: CLASS }),
        ],
        pools: [
          pool("first-pool", ["192.168.28.210-192.168.28.220"], { addresses: "11", assigned: 2, announced: 1, services: 2 }),
          pool("orphan", ["192.0.2.0/24"], { conditions: [{ type: "Usable", status: "False", reason: "NotAdvertised", message: 'AddressPool "orphan" is not used: no L2Advertisement announces it.' }] }),
        ],
      }),
    );
    assert.equal(
      renderStatusTable(report),
      [
        "SERVICE        ADDRESS         POOL        MADE BY     ANNOUNCED BY",
        "default/api    192.168.28.211  first-pool  in-cluster  not announced",
        "default/nginx  192.168.28.210  first-pool  stack       node-a/eth0",
        "",
        "POOL        TOTAL  ASSIGNED  ANNOUNCED  STATE",
        "first-pool  11     2         1          usable",
        "orphan      256    -         -          set aside (NotAdvertised)",
        "",
        "Pools set aside:",
        '  orphan: AddressPool "orphan" is not used: no L2Advertisement announces it.',
        "",
        "Pending Services (l2lb serves them; no address yet):",
        "  default/web: waiting for the allocator",
        "",
        "Assigned addresses missing from status.loadBalancer.ingress:",
        "  default/api 192.168.28.211: the speakers have not written it yet",
        "",
      ].join("\n"),
    );
  });

  it("an empty cluster says so", () => {
    assert.equal(renderStatusTable(statusReport(snapshot({}))), "No Service holds an l2lb address.\n\nNo address pools.\n");
  });
});

describe("l2lb status (the command)", () => {
  const fixed = (s: ClusterSnapshot) => async () => s;

  it("-o json prints the report and exits 0 even with pending Services", async () => {
    const r = await statusCommand(["-o", "json"], fixed(snapshot({ services: [service("web", { loadBalancerClass: CLASS })] })));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { defaultClass: false, services: [], pools: [], pending: [{ service: "default/web", reason: WAITING_FOR_ALLOCATOR }], missingFromIngress: [] });
  });

  it("passes the flags to the reader", async () => {
    let seen: unknown;
    const r = await statusCommand(["--kubeconfig", "/k", "--context", "lab", "-n", "web", "--default-class"], async (options) => {
      seen = options;
      return snapshot({});
    });
    assert.equal(r.code, 0);
    assert.deepEqual(seen, { kubeconfig: "/k", context: "lab", namespace: "web", defaultClass: true });
  });

  it("a cluster that cannot be read: exit 2 and one sentence", async () => {
    const r = await statusCommand([], async () => {
      throw new Error("cannot list Services (connect ECONNREFUSED 127.0.0.1:1); check --kubeconfig and --context (or KUBECONFIG) and that the API server is reachable.");
    });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "l2lb status: cannot read the cluster: cannot list Services (connect ECONNREFUSED 127.0.0.1:1); check --kubeconfig and --context (or KUBECONFIG) and that the API server is reachable.\n");
  });

  it("usage errors exit 2; --help exits 0", async () => {
    const bad = await statusCommand(["-o", "yaml"], fixed(snapshot({})));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /output format "yaml" is not supported; use -o table or -o json\./);
    const unknown = await statusCommand(["--bogus"], fixed(snapshot({})));
    assert.equal(unknown.code, 2);
    const help = await statusCommand(["--help"], fixed(snapshot({})));
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: l2lb status/);
  });

  it("the real reader: no credentials anywhere is one sentence, not a connection attempt to localhost", async () => {
    const saved = { HOME: process.env.HOME, KUBECONFIG: process.env.KUBECONFIG, KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST };
    process.env.HOME = mkdtempSync(join(tmpdir(), "l2lb-home-"));
    delete process.env.KUBECONFIG;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      const r = await statusCommand([], readClusterSnapshot);
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr,
        "l2lb status: cannot read the cluster: found no Kubernetes credentials (no --kubeconfig, no KUBECONFIG, no ~/.kube/config, not inside a cluster); pass --kubeconfig <file> or set KUBECONFIG.\n",
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("the real reader: a missing kubeconfig file and an unreachable API server are sentences naming the fix", async () => {
    const dir = mkdtempSync(join(tmpdir(), "l2lb-status-"));
    const missing = await statusCommand(["--kubeconfig", join(dir, "absent")], readClusterSnapshot);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^l2lb status: cannot read the cluster: cannot load the Kubernetes credentials \(.*\); pass --kubeconfig <file>/);

    const kubeconfig = join(dir, "config");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:2', insecure-skip-tls-verify: true}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: ctx, context: {cluster: c, user: u}}]",
        "current-context: ctx",
      ].join("\n"),
    );
    const unreachable = await statusCommand(["--kubeconfig", kubeconfig], readClusterSnapshot);
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /^l2lb status: cannot read the cluster: cannot list (Services|AddressPools|Events) \(fetch failed: connect ECONNREFUSED 127\.0\.0\.1:2\); check --kubeconfig and --context \(or KUBECONFIG\) and that the API server is reachable\.\n$/);
  });
});
