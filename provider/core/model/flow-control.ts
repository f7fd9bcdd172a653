// The speakers' Lease renewals are what keeps an address on its node: if they queue behind a
// burst of Service writes at a loaded API server, a healthy node looks dead to its peers and an
// address can move (or, with every speaker fail-static, stop moving). API Priority and Fairness
// exists for exactly this: kube-controller-manager's and kube-scheduler's leader-election
// renewals run in the `leader-election` priority level, apart from the `workload-low` level
// where every other ServiceAccount request waits. This FlowSchema puts the speakers' Lease
// reads and writes (and only those) there too; their lists and watches of member records stay in
// `workload-low`. Each restarted speaker lists every member record, and at 200 speakers those
// lists, in the level's few seats and queues, got answered 429 and made renewals queue and time
// out. Pure data, used by the installation.
import { SPEAKER_NAME } from "./contract.ts";

/** The subset of `flowcontrol.apiserver.k8s.io/v1` FlowSchema that we create. */
export interface FlowSchemaObject {
  apiVersion: "flowcontrol.apiserver.k8s.io/v1";
  kind: "FlowSchema";
  metadata: { name: string };
  spec: {
    priorityLevelConfiguration: { name: string };
    matchingPrecedence: number;
    distinguisherMethod: { type: "ByUser" };
    rules: {
      subjects: { kind: "ServiceAccount"; serviceAccount: { name: string; namespace: string } }[];
      resourceRules: { verbs: string[]; apiGroups: string[]; resources: string[]; namespaces: string[] }[];
    }[];
  };
}

/** The priority level the API server creates for leader-election renewals (a suggested configuration, present unless removed). */
export const LEASE_PRIORITY_LEVEL = "leader-election";

/**
 * Matches before the API server's own `service-accounts` FlowSchema (precedence 9000) and after
 * its leader-election schemas (100 and 200), which stay first.
 */
export const LEASE_FLOW_PRECEDENCE = 1000;

/** What the liveness path does with Leases: renew, read a suspect's, write or delete a member record. */
export const LEASE_PRIORITY_VERBS = ["get", "create", "update", "patch", "delete"];

/** The FlowSchema giving the speakers' Lease reads and writes in `namespace` the leader-election priority. */
export function speakerLeaseFlowSchema(namespace: string): FlowSchemaObject {
  return {
    apiVersion: "flowcontrol.apiserver.k8s.io/v1",
    kind: "FlowSchema",
    metadata: { name: `${SPEAKER_NAME}-leases` },
    spec: {
      priorityLevelConfiguration: { name: LEASE_PRIORITY_LEVEL },
      matchingPrecedence: LEASE_FLOW_PRECEDENCE,
      distinguisherMethod: { type: "ByUser" },
      rules: [
        {
          subjects: [{ kind: "ServiceAccount", serviceAccount: { name: SPEAKER_NAME, namespace } }],
          resourceRules: [{ verbs: [...LEASE_PRIORITY_VERBS], apiGroups: ["coordination.k8s.io"], resources: ["leases"], namespaces: [namespace] }],
        },
      ],
    },
  };
}
