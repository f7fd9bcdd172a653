#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, with kwok playing the nodes, for the lab.
#
#   etcd, kube-apiserver (RBAC, service-account tokens), kube-controller-manager (EndpointSlices,
#   garbage collection, namespaces, service accounts; no cloud/LB controller), kube-scheduler and kwok
#   (fake nodes whose pods become Ready) — all listening on 127.0.0.1 only, on free ports.
#
# Usage (callable, or sourced for its functions):
#   cluster.sh up [NODE[=IPv4[,IPv6]]...]   start everything, create the nodes, print KUBECONFIG=<path>
#   cluster.sh add-node NODE[=IPv4[,IPv6]]... create more kwok nodes (InternalIP = the given addresses;
#                                           default 192.0.2.(11+i) and 2001:db8:1::(11+i) by position)
#   cluster.sh kubeconfig-for NAMESPACE SERVICEACCOUNT [DURATION]
#                                           write a kubeconfig holding a TokenRequest token for that
#                                           ServiceAccount (default 24h), print its path; the account has
#                                           exactly the permissions its RBAC grants
#   cluster.sh env                          print `export KUBECONFIG=... L2LB_LAB_DIR=... PATH=...`
#   cluster.sh status                       show the processes and nodes
#   cluster.sh down                         stop every process this lab started, remove L2LB_LAB_DIR
#   cluster.sh run [NODE...]                up, then wait until Ctrl-C/TERM, then down
#
# Env in:  L2LB_LAB_DIR   scratch directory for all state (default ${TMPDIR:-/tmp}/l2lb-lab); one lab per dir
#          L2LB_LAB_NODES nodes for `up` when none are given as arguments (same syntax, space-separated)
#          L2LB_LAB_TIMEOUT seconds for each wait (default 90)
# Files out (under L2LB_LAB_DIR): kubeconfig (admin, system:masters), env (sourceable), pki/, logs/<proc>.log,
#          pids/<proc>.pid, sa/<ns>-<sa>.kubeconfig.
# Needs the tools from test/lab/build-tools.sh (kubernetes, etcd, kwok) and openssl.
# Service cluster IP range 10.96.0.0/16 + 2001:db8:96::/112 and pod range 10.244.0.0/16 are cluster-internal
# allocations only; nothing is ever sent to them.
set -Eeuo pipefail
_lab_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$_lab_here/../../scripts/env.sh"
. "$_lab_here/tools.sh"

export L2LB_LAB_DIR="${L2LB_LAB_DIR:-${TMPDIR:-/tmp}/l2lb-lab}"
lab_timeout="${L2LB_LAB_TIMEOUT:-90}"
lab_service_cidr="10.96.0.0/16,2001:db8:96::/112"
lab_pod_cidr="10.244.0.1/16"

lab_say() { printf '\033[1m[lab]\033[0m %s\n' "$*" >&2; }
lab_die() { lab_say "error: $*"; return 1; }

lab_kubectl() { "$L2LB_KUBERNETES_BIN/kubectl" --kubeconfig "$L2LB_LAB_DIR/kubeconfig" "$@"; }

# lab_wait SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s until it succeeds or time runs out.
lab_wait() {
  local limit="$1" what="$2" deadline; shift 2
  deadline=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then lab_die "timed out after ${limit}s waiting for $what"; return 1; fi
    sleep 0.5
  done
}

# Ports come from below the kernel's ephemeral range (ip_local_port_range starts at 32768), so no
# outgoing client socket can take one between the pick and the bind.
lab_free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    grep -qx "$p" "$L2LB_LAB_DIR/ports" 2>/dev/null && continue
    if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then echo "$p" >>"$L2LB_LAB_DIR/ports"; echo "$p"; return 0; fi
  done
  lab_die "no free port"
}

# lab_start NAME COMMAND...: run a daemon in its own session, log to logs/NAME.log, pid in pids/NAME.pid.
lab_start() {
  local name="$1"; shift
  setsid "$@" </dev/null >>"$L2LB_LAB_DIR/logs/$name.log" 2>&1 &
  echo $! >"$L2LB_LAB_DIR/pids/$name.pid"
}

lab_alive() { local pid; pid="$(cat "$L2LB_LAB_DIR/pids/$1.pid" 2>/dev/null)" && kill -0 "$pid" 2>/dev/null; }

lab_check_alive() {
  lab_alive "$1" || { lab_say "$1 exited; last lines of its log:"; tail -25 "$L2LB_LAB_DIR/logs/$1.log" >&2; return 1; }
}

# lab_start_listening NAME READY COMMAND...: start a daemon whose arguments say @PORT@ (and @PORT2@)
# where its listening ports go, then run `READY PORT` until it succeeds. Another lab starting at the
# same moment may bind a port between our pick and the daemon's bind; the daemon then exits with
# "address already in use" and is started again on fresh ports. The port is left in logs/NAME.port.
lab_start_listening() {
  local name="$1" ready="$2" log attempt port port2 arg seen deadline
  shift 2
  log="$L2LB_LAB_DIR/logs/$name.log"
  local -a args
  for attempt in 1 2 3 4 5; do
    port="$(lab_free_port)" && port2="$(lab_free_port)" || return 1
    args=()
    for arg in "$@"; do arg="${arg//@PORT@/$port}"; args+=("${arg//@PORT2@/$port2}"); done
    echo "$port" >"$L2LB_LAB_DIR/logs/$name.port"
    seen=$(stat -c %s "$log" 2>/dev/null || echo 0)
    lab_say "starting $name on 127.0.0.1:$port"
    lab_start "$name" "${args[@]}"
    deadline=$(($(date +%s) + lab_timeout))
    until "$ready" "$port" >/dev/null 2>&1; do
      if ! lab_alive "$name"; then
        tail -c +$((seen + 1)) "$log" | grep -q "address already in use" && continue 2
        lab_check_alive "$name"; return 1
      fi
      [ "$(date +%s)" -lt "$deadline" ] || { lab_die "timed out after ${lab_timeout}s waiting for $name"; return 1; }
      sleep 0.5
    done
    return 0
  done
  lab_die "$name found its port taken five times in a row"
}

lab_etcd_ready() { curl -fsS --max-time 5 "http://127.0.0.1:$1/health"; }
lab_healthz_ready() { curl -fksS --max-time 5 "https://127.0.0.1:$1/healthz"; }

lab_pki() {
  local d="$L2LB_LAB_DIR/pki"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout ca.key -out ca.crt \
      -days 3650 -subj "/CN=l2lb-lab-ca" 2>/dev/null
    # Service-account token signing key.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    lab_cert apiserver "/CN=kube-apiserver" \
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    lab_cert admin "/O=system:masters/CN=l2lb-lab-admin" "extendedKeyUsage=clientAuth"
    lab_cert controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
    lab_cert scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
    lab_cert kwok "/O=system:masters/CN=kwok" "extendedKeyUsage=clientAuth"
  )
}

# lab_cert NAME SUBJECT EXTENSIONS (run inside pki/)
lab_cert() {
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$1.key" -out "$1.csr" \
    -subj "$2" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$1.ext" \
    -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

# lab_kubeconfig FILE USER-NAME (client cert pki/USER.crt)
lab_kubeconfig() {
  local pki="$L2LB_LAB_DIR/pki"
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: l2lb-lab
  cluster:
    server: https://127.0.0.1:$(cat "$L2LB_LAB_DIR/apiserver.port")
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$2.crt")
    client-key-data: $(base64 -w0 <"$pki/$2.key")
contexts:
- name: l2lb-lab
  context: {cluster: l2lb-lab, user: $2}
current-context: l2lb-lab
EOF
  chmod 600 "$1"
}

lab_up() {
  local missing
  missing="$(lab_tools_missing kubernetes etcd kwok | tr '\n' ' ')"
  [ -z "${missing// }" ] || { lab_die "tools not built: $missing(run test/lab/build-tools.sh)"; return 1; }
  [ -z "$(ls "$L2LB_LAB_DIR/pids" 2>/dev/null)" ] || { lab_die "a lab already runs in $L2LB_LAB_DIR (cluster.sh down first)"; return 1; }
  mkdir -p "$L2LB_LAB_DIR"/{logs,pids,sa,etcd}
  chmod 700 "$L2LB_LAB_DIR"
  : >"$L2LB_LAB_DIR/ports"
  # Any failure or interruption from here on removes what was started.
  trap 'lab_say "up failed; tearing down"; lab_dump_logs; lab_down' ERR
  trap 'lab_say "interrupted; tearing down"; lab_down; exit 130' INT TERM
  local d="$L2LB_LAB_DIR" pki="$L2LB_LAB_DIR/pki" etcd_port
  lab_say "lab dir $d"
  lab_pki

  lab_start_listening etcd lab_etcd_ready "$L2LB_ETCD_BIN/etcd" --name lab --data-dir "$d/etcd" \
    --listen-client-urls "http://127.0.0.1:@PORT@" --advertise-client-urls "http://127.0.0.1:@PORT@" \
    --listen-peer-urls "http://127.0.0.1:@PORT2@" --initial-advertise-peer-urls "http://127.0.0.1:@PORT2@" \
    --initial-cluster "lab=http://127.0.0.1:@PORT2@" --unsafe-no-fsync --log-level warn
  etcd_port="$(cat "$d/logs/etcd.port")"

  lab_start_listening kube-apiserver lab_api_ready "$L2LB_KUBERNETES_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port @PORT@ \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$lab_service_cidr" \
    --endpoint-reconciler-type none \
    --allow-privileged=true --profiling=false
  cp "$d/logs/kube-apiserver.port" "$d/apiserver.port"
  lab_kubeconfig "$d/kubeconfig" admin
  lab_kubeconfig "$d/controller-manager.kubeconfig" controller-manager
  lab_kubeconfig "$d/scheduler.kubeconfig" scheduler
  lab_kubeconfig "$d/kwok.kubeconfig" kwok

  lab_start_listening kube-controller-manager lab_healthz_ready "$L2LB_KUBERNETES_BIN/kube-controller-manager" \
    --kubeconfig "$d/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$d/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$d/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port @PORT@ --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --service-cluster-ip-range "$lab_service_cidr" \
    --controllers '*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller'
  lab_start_listening kube-scheduler lab_healthz_ready "$L2LB_KUBERNETES_BIN/kube-scheduler" \
    --kubeconfig "$d/scheduler.kubeconfig" \
    --authentication-kubeconfig "$d/scheduler.kubeconfig" \
    --authorization-kubeconfig "$d/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port @PORT@ --leader-elect=false

  lab_say "starting kwok"
  lab_kwok_config >"$d/kwok.yaml"
  lab_start kwok "$L2LB_KWOK_BIN/kwok" --config "$d/kwok.yaml" --kubeconfig "$d/kwok.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr "$lab_pod_cidr" --node-ip 192.0.2.254

  lab_wait "$lab_timeout" "the default ServiceAccount" lab_kubectl -n default get serviceaccount default
  lab_check_alive kube-controller-manager
  lab_check_alive kube-scheduler
  lab_check_alive kwok
  lab_write_env

  local nodes=("$@")
  [ ${#nodes[@]} -gt 0 ] || read -r -a nodes <<<"${L2LB_LAB_NODES:-}"
  [ ${#nodes[@]} -eq 0 ] || lab_add_nodes "${nodes[@]}"
  trap - ERR INT TERM
  lab_say "cluster up"
  echo "KUBECONFIG=$d/kubeconfig"
}

lab_dump_logs() {
  local f
  for f in "$L2LB_LAB_DIR"/logs/*.log; do
    [ -f "$f" ] || continue
    printf '\n--- last lines of %s\n' "$(basename "$f")" >&2
    tail -8 "$f" >&2
  done
}

# kwok's own node stages patch status.addresses by strategic merge, whose merge key is the address
# type: a node with an IPv4 and an IPv6 InternalIP then fails validation. These stages do what the
# defaults do (Ready conditions, capacity, node info, heartbeats) and leave the addresses we set alone.
# Pods become Running and Ready once, with two IPs: 10.244.x.y from --cidr and 2001:db8:244::x:y, so
# dual-stack Services get endpoints in both families; afterwards kwok leaves pod status alone (a test
# may patch a pod's Ready condition). Deleted pods go away at once. (No Job completion stage.)
lab_kwok_config() {
  cat <<'EOF'
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: l2lb-node-initialize
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $since := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      allocatable: {cpu: "32", memory: 128Gi, pods: "110"}
      capacity: {cpu: "32", memory: 128Gi, pods: "110"}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
        kernelVersion: {{ printf "kwok-%s" Version | Quote }}
        bootID: ""
        machineID: ""
        osImage: ""
        systemUUID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: l2lb-node-heartbeat
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: In
      values: ['Running']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ['True']
  delay:
    durationMilliseconds: 20000
    jitterDurationMilliseconds: 25000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $since := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: l2lb-pod-ready
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.podIP'
      operator: DoesNotExist
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $ip := PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      {{ range .spec.readinessGates }}
      - {type: {{ .conditionType | Quote }}, status: "True", lastTransitionTime: {{ $now | Quote }}}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: 0
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ $ip | Quote }}
      podIPs:
      - ip: {{ $ip | Quote }}
      {{ if not .spec.hostNetwork }}
      {{ $o := splitList "." $ip }}
      - ip: {{ printf "2001:db8:244::%s:%s" (index $o 2) (index $o 3) | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: l2lb-pod-delete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    finalizers: {empty: true}
    delete: true
EOF
}

# lab_api_ready [PORT]: the API server answers /readyz (on PORT, else on the lab's recorded port).
lab_api_ready() {
  curl -fsS --max-time 5 --cacert "$L2LB_LAB_DIR/pki/ca.crt" --cert "$L2LB_LAB_DIR/pki/admin.crt" \
    --key "$L2LB_LAB_DIR/pki/admin.key" "https://127.0.0.1:${1:-$(cat "$L2LB_LAB_DIR/apiserver.port")}/readyz"
}

lab_write_env() {
  cat >"$L2LB_LAB_DIR/env" <<EOF
export L2LB_LAB_DIR='$L2LB_LAB_DIR'
export KUBECONFIG='$L2LB_LAB_DIR/kubeconfig'
export PATH='$L2LB_KUBERNETES_BIN':"\$PATH"
EOF
}

# lab_add_nodes NODE[=IPv4[,IPv6]]...
lab_add_nodes() {
  local i=0 spec name addrs v4 v6 names=()
  local -a existing
  read -r -a existing <<<"$(lab_kubectl get nodes -o name 2>/dev/null | wc -l)"
  i="${existing[0]:-0}"
  for spec in "$@"; do
    name="${spec%%=*}"
    if [ "$spec" != "$name" ]; then addrs="${spec#*=}"; else addrs="192.0.2.$((11 + i)),2001:db8:1::$((11 + i))"; fi
    v4="${addrs%%,*}"; v6=""; [ "$addrs" = "$v4" ] || v6="${addrs#*,}"
    i=$((i + 1))
    lab_say "node $name: InternalIP $v4${v6:+ $v6}"
    lab_node_yaml "$name" "$v4" "$v6" | lab_kubectl apply -f - >/dev/null
    # Status sent with a create is kept for Nodes, but make sure: kwok keeps existing addresses.
    local json="{\"type\":\"InternalIP\",\"address\":\"$v4\"}"
    [ -z "$v6" ] || json+=",{\"type\":\"InternalIP\",\"address\":\"$v6\"}"
    json+=",{\"type\":\"Hostname\",\"address\":\"$name\"}"
    lab_kubectl patch node "$name" --subresource=status --type=merge -p "{\"status\":{\"addresses\":[$json]}}" >/dev/null
    names+=("$name")
  done
  for name in "${names[@]}"; do
    lab_wait "$lab_timeout" "node $name Ready" lab_node_ready "$name"
  done
}

lab_node_ready() {
  [ "$(lab_kubectl get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

lab_node_yaml() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  addresses:
  - {type: InternalIP, address: "$2"}
$( [ -z "$3" ] || printf '  - {type: InternalIP, address: "%s"}\n' "$3")
  - {type: Hostname, address: "$1"}
EOF
}

# lab_kubeconfig_for NAMESPACE SERVICEACCOUNT [DURATION] -> prints the kubeconfig path
lab_kubeconfig_for() {
  local ns="$1" sa="$2" duration="${3:-24h}" token out
  out="$L2LB_LAB_DIR/sa/$ns-$sa.kubeconfig"
  token="$(lab_kubectl -n "$ns" create token "$sa" --duration "$duration")"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: l2lb-lab
  cluster:
    server: https://127.0.0.1:$(cat "$L2LB_LAB_DIR/apiserver.port")
    certificate-authority-data: $(base64 -w0 <"$L2LB_LAB_DIR/pki/ca.crt")
users:
- name: $ns-$sa
  user:
    token: $token
contexts:
- name: l2lb-lab
  context: {cluster: l2lb-lab, user: $ns-$sa, namespace: $ns}
current-context: l2lb-lab
EOF
  chmod 600 "$out"
  echo "$out"
}

lab_down() {
  local f pid name
  trap - ERR INT TERM
  [ -d "$L2LB_LAB_DIR" ] || return 0
  # Stop in reverse order of dependence; each process was started by us in its own session.
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f="$L2LB_LAB_DIR/pids/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f="$L2LB_LAB_DIR/pids/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  case "$L2LB_LAB_DIR" in
    /|"$HOME"|/tmp|/root) lab_say "refusing to remove $L2LB_LAB_DIR" ;;
    *) rm -rf "$L2LB_LAB_DIR" ;;
  esac
  lab_say "lab down"
}

lab_status() {
  local f
  for f in "$L2LB_LAB_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    printf '%-24s pid %-8s %s\n' "$(basename "$f" .pid)" "$(cat "$f")" "$(lab_alive "$(basename "$f" .pid)" && echo running || echo DEAD)"
  done
  lab_kubectl get nodes -o wide 2>/dev/null || true
}

lab_main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    up) lab_up "$@" ;;
    down) lab_down ;;
    add-node) lab_add_nodes "$@" ;;
    kubeconfig-for) lab_kubeconfig_for "$@" ;;
    env) cat "$L2LB_LAB_DIR/env" ;;
    status) lab_status ;;
    run)
      lab_up "$@"
      _lab_sleeper=""
      trap 'kill "$_lab_sleeper" 2>/dev/null; lab_down; exit 0' INT TERM
      trap 'lab_down' EXIT
      lab_say "running; Ctrl-C to stop"
      while :; do sleep 3600 & _lab_sleeper=$!; wait "$_lab_sleeper" || true; done ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; [ -n "$cmd" ] && return 2 || return 0 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then lab_main "$@"; fi
