#!/usr/bin/env bash
# The l2lb demo, end to end, on the lab (test/lab/README.md): a real kube-apiserver with three kwok
# nodes, a layer-2 network of namespaces, one real speaker per node namespace, Pulumi with a local
# backend. Deploys examples/basic and examples/shared-ip with `pulumi preview --diff` + `pulumi up`,
# shows EXTERNAL-IP, resolves the address from a client with arping, kills the announcing speaker
# (SIGKILL) and shows the address moving, then destroys everything and tears the lab down — also on
# failure or Ctrl-C.
#
#   bash scripts/demo.sh          (from a fresh clone: setup, then this script)
#   bash test/lab/demo.sh         (setup done)
# Env: L2LB_DEMO_KEEP=1 keeps the scratch directory (logs, state) after the run.
set -Eeuo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../scripts/env.sh"
cd "$L2LB_ROOT"

t0=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - t0) / 1000000)); printf '%d:%02d' $((ms / 60000)) $((ms / 1000 % 60)); }
step() { printf '\n\033[1;34m[%s] == %s\033[0m\n' "$(elapsed)" "$*"; }
say() { printf '\033[1m[%s]\033[0m %s\n' "$(elapsed)" "$*"; }
note() { printf '\033[33m  note:\033[0m %s\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the demo needs root (network namespaces, raw sockets)"
for tool in ip arping ndisc6 openssl; do command -v "$tool" >/dev/null || die "$tool is not installed (bash scripts/setup.sh installs it)"; done

NODES=(node-a node-b node-c)
SPECS=(node-a=192.0.2.11,2001:db8:1::11 node-b=192.0.2.12,2001:db8:1::12 node-c=192.0.2.13,2001:db8:1::13)
POOL=192.0.2.200-192.0.2.220
scratch="$(mktemp -d /tmp/l2lb-demo.XXXXXX)"
export L2LB_LAB_DIR="$scratch/lab" L2LB_NET_ID=demo L2LB_NET_DIR="$scratch/net" L2LB_PULUMI_DIR="$scratch/pulumi"
declare -A SPEAKER_PID=()
lab_started=0 net_started=0 up_pid=""

stop_speakers() {
  local n pid
  for n in "${!SPEAKER_PID[@]}"; do
    pid="${SPEAKER_PID[$n]}"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    unset "SPEAKER_PID[$n]"
  done
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  [ "$code" = 0 ] || printf '\n\033[31m[%s] demo failed (exit %s); tearing down. Logs: %s\033[0m\n' "$(elapsed)" "$code" "$scratch"
  [ -z "$up_pid" ] || kill -TERM "$up_pid" 2>/dev/null || true
  stop_speakers
  [ "$net_started" = 0 ] || bash "$L2LB_ROOT"/test/lab/network.sh down >/dev/null 2>&1 || true
  [ "$lab_started" = 0 ] || bash "$L2LB_ROOT"/test/lab/cluster.sh down >/dev/null 2>&1 || true
  if [ "$code" = 0 ] && [ "${L2LB_DEMO_KEEP:-0}" != 1 ]; then rm -rf "$scratch"; fi
  [ "$code" = 0 ] && printf '\n\033[1;32m[%s] demo done; lab torn down (no namespaces, no lab processes left)\033[0m\n' "$(elapsed)"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------------------------------
step "1. Tools: Kubernetes, etcd, kwok and Pulumi from Go modules (cached in $L2LB_CACHE/tools), the build"
bash "$L2LB_ROOT"/test/lab/build-tools.sh 2>&1 | sed 's/^/  /' | tail -n 12
. test/lab/tools.sh
missing="$(lab_tools_missing kubernetes etcd kwok pulumi pulumi-kubernetes | tr '\n' ' ')"
[ -z "${missing// }" ] || die "lab tools missing: $missing"
if [ ! -f dist/provider/index.js ] || [ -n "$(find provider runtime -name '*.ts' -newer dist/provider/index.js -print -quit)" ]; then
  say "building dist/ (npm run build)"; npm run --silent build >/dev/null
fi
note "the programs run as a user runs them: @pulumi/kubernetes objects, applied by the Kubernetes provider plugin"
note "(pulumi-resource-kubernetes $PULUMI_KUBERNETES_VERSION, built above) and the Pulumi engine $PULUMI_CLI_VERSION."

# ----------------------------------------------------------------------------------------------
step "2. Lab: kube-apiserver + controller-manager + scheduler + kwok (3 nodes), bridge + node/client namespaces"
lab_started=1
bash "$L2LB_ROOT"/test/lab/cluster.sh up "${SPECS[@]}" 2>&1 | grep -v '^KUBECONFIG=' | sed 's/^/  /'
net_started=1
bash "$L2LB_ROOT"/test/lab/network.sh up "${SPECS[@]}" 2>&1 | grep '\[net\]' | sed 's/^/  /'
. test/lab/pulumi.sh
lab_pulumi_kubernetes_ready || die "the Kubernetes provider plugin cannot be installed for the lab's engine"
export KUBECONFIG="$L2LB_LAB_DIR/kubeconfig"
kubectl() { "$L2LB_KUBERNETES_BIN/kubectl" "$@"; }
kubectl get nodes -o wide | sed 's/^/  /'
note "the seeds' addresses (192.168.28.x) are replaced by documentation addresses: nodes 192.0.2.11-13,"
note "VIP pool 192.0.2.200-192.0.2.220 on the nodes' subnet (config 'addresses'), client 192.0.2.100."

declare -A MAC_NODE=()
for n in "${NODES[@]}"; do
  mac="$(ip -n "l2lb-demo-$n" -br link show eth0 | awk '{print $3}')"
  MAC_NODE[$mac]="$n"
done

# owner_of IP -> "MAC node" as the client sees it (one ARP request)
owner_of() {
  local mac="" try
  for try in 1 2 3; do
    mac="$(ip netns exec l2lb-demo-client arping -c1 -w1 -I eth0 "$1" 2>/dev/null | grep -oiE '\[([0-9a-f]{2}:){5}[0-9a-f]{2}\]' | tr -d '[]' | tr 'A-F' 'a-f' | head -n1)" || true
    [ -z "$mac" ] || break
  done
  [ -n "$mac" ] && echo "$mac ${MAC_NODE[$mac]:-?}"
}

# announced_by SERVICE: waits (up to 15 s) for the speaker's l2lb.dev/announced-by annotation and prints it
announced_by() {
  local v=""
  for _ in $(seq 1 75); do
    v="$(kubectl get svc "$1" -o jsonpath='{.metadata.annotations.l2lb\.dev/announced-by}' 2>/dev/null)"
    [ -z "$v" ] || break
    sleep 0.2
  done
  echo "$v"
}

start_speakers() {
  local cfg n
  # The ServiceAccount comes from the Installation; its token holds exactly the installation's RBAC.
  for _ in $(seq 1 240); do kubectl -n l2lb-system get rolebinding l2lb-speaker >/dev/null 2>&1 && break; sleep 0.5; done
  cfg="$(bash "$L2LB_ROOT"/test/lab/cluster.sh kubeconfig-for l2lb-system l2lb-speaker | tail -n1)"
  for n in "${NODES[@]}"; do
    # `ip netns exec` (what network.sh exec runs) execs env, which execs node: $! is the speaker itself.
    # The bin itself, as the image runs it: its shebang carries the Node flags (runtime/speaker/main.ts, line 1).
    ip netns exec "$(bash "$L2LB_ROOT"/test/lab/network.sh ns "$n")" env -i PATH="$PATH" NODE_NAME="$n" POD_NAMESPACE=l2lb-system KUBECONFIG="$cfg" \
      L2LB_INTERFACES=eth0 "$L2LB_ROOT/dist/runtime/speaker/main.js" --metrics-host 127.0.0.1 ${SPEAKER_ARGS:-} \
      >"$scratch/speaker-$n.log" 2>&1 &
    SPEAKER_PID[$n]=$!
  done
  say "speakers running in the node namespaces as ServiceAccount l2lb-system/l2lb-speaker (pids ${SPEAKER_PID[*]})"
}

# deploy SCENARIO: copies examples/SCENARIO, sets lab config, preview --diff, up (speakers start once RBAC exists)
deploy() {
  local scenario="$1"; shift
  local dir="$scratch/$scenario"
  cp -r "examples/$scenario" "$dir"; rm -rf "$dir/node_modules"; mkdir "$dir/node_modules"
  ln -s "$L2LB_ROOT" "$dir/node_modules/l2lb"
  ln -s "$L2LB_ROOT/node_modules/@pulumi" "$L2LB_ROOT/node_modules/@kubernetes" "$dir/node_modules/"
  cd "$dir"
  pulumi stack init lab --non-interactive >/dev/null 2>&1
  pulumi config set kubernetes:kubeconfig "$KUBECONFIG" >/dev/null
  pulumi config set --path 'addresses[0]' "$POOL" >/dev/null
  local kv; for kv in "$@"; do pulumi config set --path "${kv%%=*}" "${kv#*=}" >/dev/null; done
  say "pulumi preview --diff   (the allocation runs at preview: every address is shown before anything exists)"
  pulumi preview --diff --non-interactive >"$scratch/$scenario-preview.txt" 2>&1 || { cat "$scratch/$scenario-preview.txt"; die "preview failed"; }
  # (a program without an Allocation, like in-cluster, shows only what it creates)
  { grep -m1 -E '^\s+\+ pulumi-nodejs:dynamic/l2lb:Allocation' "$scratch/$scenario-preview.txt" || true
    grep -E '^\s+default/[a-z0-9-]+\s*: "[0-9a-f.:,]+"' "$scratch/$scenario-preview.txt" | sort -u || true
    grep -m1 -E '^\s+subnetSource\s+:' "$scratch/$scenario-preview.txt" | cut -c1-110 || true
    grep -E 'to create' "$scratch/$scenario-preview.txt" || true; } | sed 's/^ */  | /'
  say "pulumi up --yes"
  pulumi up --yes --non-interactive >"$scratch/$scenario-up.txt" 2>&1 &
  up_pid=$!
  start_speakers
  wait "$up_pid" || { up_pid=""; tail -n 40 "$scratch/$scenario-up.txt"; die "pulumi up failed"; }
  up_pid=""
  grep -E '^Resources:|created|Duration' "$scratch/$scenario-up.txt" | tail -n 3 | sed 's/^/  | /'
  say "pulumi preview --expect-no-changes   (right after up: nothing to do)"
  pulumi preview --expect-no-changes --non-interactive >"$scratch/$scenario-again.txt" 2>&1 || { cat "$scratch/$scenario-again.txt"; die "the preview after up is not empty"; }
  grep -E 'unchanged' "$scratch/$scenario-again.txt" | tail -n 1 | sed 's/^ */  | /'
  cd "$L2LB_ROOT"
}

destroy() {
  local scenario="$1"
  cd "$scratch/$scenario"
  say "pulumi destroy --yes"
  stop_speakers
  pulumi destroy --yes --non-interactive >"$scratch/$scenario-destroy.txt" 2>&1 || { tail -n 30 "$scratch/$scenario-destroy.txt"; die "destroy failed"; }
  grep -E 'deleted|Duration' "$scratch/$scenario-destroy.txt" | tail -n 2 | sed 's/^/  | /'
  cd "$L2LB_ROOT"
  local left
  left="$(kubectl get svc,deploy -A -l app.kubernetes.io/part-of=l2lb -o name 2>/dev/null; kubectl get ns l2lb-system -o name 2>/dev/null; kubectl get crd -o name | grep l2lb.dev || true; kubectl get svc -A -o jsonpath='{range .items[*]}{.metadata.annotations.l2lb\.dev/load-balancer-ips}{end}')"
  if [ -n "$left" ]; then say "left behind: $left"; else say "nothing of the stack left in the cluster (namespace, CRDs, RBAC, Services, Deployment, annotations)"; fi
  note "the Nodes keep l2lb.dev/subnets, written by the speakers (not by the stack): $(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.l2lb\.dev/subnets}{" "}{end}' | cut -c1-90)..."
}

# ----------------------------------------------------------------------------------------------
step "3. Scenario basic (seed 000): runtime + pool + advertisement + nginx behind a LoadBalancer Service"
deploy basic
step "4. kubectl get svc: EXTERNAL-IP written by the elected speaker"
kubectl get svc -o wide | sed 's/^/  /'
ip4="$(kubectl get svc nginx -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
[ -n "$ip4" ] || die "nginx has no EXTERNAL-IP"
say "announced by: $(announced_by nginx)"

step "5. The client (192.0.2.100) resolves $ip4 with arping"
ip netns exec l2lb-demo-client arping -c3 -I eth0 "$ip4" | sed 's/^/  /'
read -r mac owner < <(owner_of "$ip4") || die "no ARP answer for $ip4"
say "owner: $owner (eth0 $mac)"
ip netns exec l2lb-demo-client ip neigh show "$ip4" | sed 's/^/  neighbour entry: /'

step "6. Failover: SIGKILL the speaker on $owner"
# The client holds a neighbour entry for the address, as a router would (ping makes its kernel
# resolve it); the new owner's gratuitous ARP must correct it.
ip netns exec l2lb-demo-client ping -c1 -W1 "$ip4" >/dev/null 2>&1 || true
ip netns exec l2lb-demo-client ip neigh show "$ip4" | sed 's/^/  client neighbour entry before: /'
kill -KILL "${SPEAKER_PID[$owner]}"; t_kill=$(date +%s%N)
wait "${SPEAKER_PID[$owner]}" 2>/dev/null || true; unset "SPEAKER_PID[$owner]"
nmac=""
for _ in $(seq 1 600); do
  nmac="$(ip netns exec l2lb-demo-client ip neigh show "$ip4" | grep -oE 'lladdr [0-9a-f:]{17}' | cut -d' ' -f2)"
  [ -z "$nmac" ] || [ "$nmac" = "$mac" ] || break
  sleep 0.05
done
[ -n "$nmac" ] && [ "$nmac" != "$mac" ] || die "$ip4 did not move within 30 s"
ms=$((($(date +%s%N) - t_kill) / 1000000))
new="${MAC_NODE[$nmac]:-?}"
say "$ip4 moved: $owner ($mac) -> $new ($nmac), $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s after SIGKILL"
ip netns exec l2lb-demo-client ip neigh show "$ip4" | sed 's/^/  client neighbour entry after:  /'
read -r amac aowner < <(owner_of "$ip4") || die "no ARP answer for $ip4 after the failover"
say "arping now answered by $aowner ($amac)"
for _ in $(seq 1 50); do kubectl get svc nginx -o jsonpath='{.metadata.annotations.l2lb\.dev/announced-by}' | grep -q "=$new/" && break; sleep 0.2; done
say "announced by: $(kubectl get svc nginx -o jsonpath='{.metadata.annotations.l2lb\.dev/announced-by}')"
destroy basic

# ----------------------------------------------------------------------------------------------
step "7. Scenario shared-ip (seed 002): nginx (80, 443) and nginx-2 (81) on one address"
deploy shared-ip sharedIp=192.0.2.211
note "the seed's shared address 192.168.28.211 is 192.0.2.211 here (config sharedIp)."
kubectl get svc -o wide | sed 's/^/  /'
for s in nginx nginx-2; do
  a="$(kubectl get svc "$s" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
  [ "$a" = 192.0.2.211 ] || die "$s has EXTERNAL-IP '$a', expected 192.0.2.211"
done
read -r mac owner < <(owner_of 192.0.2.211) || die "no ARP answer for 192.0.2.211"
say "192.0.2.211 (nginx and nginx-2) answered by $owner (eth0 $mac)"
destroy shared-ip

# ----------------------------------------------------------------------------------------------
step "8. In-cluster allocation (seeds 000, 002, 004 with kubectl): runtime with defaultClass + pools, Services by kubectl"
SPEAKER_ARGS=--default-class deploy in-cluster 'eipAddresses[0]=192.0.2.221-192.0.2.230'
note "the speakers run with --default-class, as the Installation's DaemonSet does with defaultClass: true."
note "OpenELB's eip-sample-pool (192.168.0.91-100 in the seed) is 192.0.2.221-230 here."
for f in metallb-nginx metallb-shared-ip openelb-service; do
  say "kubectl apply -f examples/kubectl/$f.yaml"
  kubectl apply -f "examples/kubectl/$f.yaml" | sed 's/^/  /'
done
expect_ip() {
  local a=""
  for _ in $(seq 1 100); do
    a="$(kubectl get svc -n "$1" "$2" -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null)"
    [ -z "$a" ] || break
    sleep 0.1
  done
  [ "$a" = "$3" ] || die "$1/$2 has EXTERNAL-IP '$a', expected $3"
}
expect_ip metallb-basic nginx 192.0.2.200
expect_ip metallb-shared nginx 192.0.2.211
expect_ip metallb-shared nginx-2 192.0.2.211
expect_ip openelb layer2-svc 192.0.2.221
kubectl get svc -A --field-selector spec.type=LoadBalancer | sed 's/^/  /'
for ip in 192.0.2.200 192.0.2.211 192.0.2.221; do
  read -r mac owner < <(owner_of "$ip") || die "no ARP answer for $ip"
  say "$ip answered by $owner (eth0 $mac)"
done
say "a Service requesting an address outside every pool stays pending, with the reason as an event:"
kubectl apply -f - <<'YAML' | sed 's/^/  /'
apiVersion: v1
kind: Service
metadata:
  name: outside
  annotations:
    metallb.io/loadBalancerIPs: 198.51.100.9
spec:
  type: LoadBalancer
  ports: [{port: 80}]
YAML
for _ in $(seq 1 50); do kubectl get events --field-selector involvedObject.name=outside,reason=AllocationFailed -o name | grep -q . && break; sleep 0.2; done
kubectl get events --field-selector involvedObject.name=outside,reason=AllocationFailed -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message | sed 's/^/  /'
say "l2lb status"
node provider/cli/main.ts status 2>&1 | sed 's/^/  /' || true
kubectl delete namespace metallb-basic metallb-shared openelb --wait=true >/dev/null
kubectl delete service outside >/dev/null
destroy in-cluster

step "Done in $(elapsed)"
