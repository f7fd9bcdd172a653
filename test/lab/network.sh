#!/usr/bin/env bash
# The lab's layer-2 network: network namespaces on one Linux bridge, documentation addresses only.
#
#   l2lb-<ID>-br       holds the bridge br0 (STP off, no forwarding delay, multicast snooping off:
#                      a plain switch) and one port p<N> per host; nothing else lives there
#   l2lb-<ID>-<NODE>   one per node, eth0 = 192.0.2.(11+i)/24 and 2001:db8:1::(11+i)/64 by position,
#                      or the addresses given as NODE=IPv4,IPv6
#   l2lb-<ID>-client   eth0 = 192.0.2.100/24, 2001:db8:1::100/64, plus on-link routes for the VIP
#                      ranges in L2LB_NET_ONLINK (so the client ARPs/solicits for a VIP directly)
# Only connected routes; no default route, nothing routed beyond 192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24 and 2001:db8::/32. The root namespace is not touched.
#
# Usage (callable, or sourced for its functions):
#   network.sh up [NODE[=IPv4,IPv6]...]    create it all (nodes also from L2LB_NET_NODES); prints env lines
#   network.sh down                         remove every namespace of this ID and the relays
#   network.sh ns NODE|client|bridge        print that namespace's name
#   network.sh exec NODE|client CMD...      run CMD inside that namespace
#   network.sh expose-api PORT [NODE...]    make 127.0.0.1:PORT inside the node namespaces reach the
#                                           root namespace's 127.0.0.1:PORT (the loopback-only
#                                           kube-apiserver) through a UNIX socket relay; `up` does it by
#                                           itself when $L2LB_LAB_DIR/apiserver.port exists
#   network.sh env                          print the env lines again
#
# Env in:  L2LB_NET_ID   run id, keeps parallel runs apart (default "lab"; letters, digits, '-')
#          L2LB_NET_DIR  state directory (default ${TMPDIR:-/tmp}/l2lb-net-<ID>)
#          L2LB_NET_ONLINK  client on-link prefixes (default "198.51.100.0/24 203.0.113.0/24 2001:db8:2::/64")
#          L2LB_LAB_DIR  the cluster's lab directory (see cluster.sh), for expose-api
# Env out (printed by up/env): L2LB_NET_ID, L2LB_NET_DIR, L2LB_NET_NODES, L2LB_NET_CLIENT_NS, L2LB_NET_BRIDGE_NS
set -euo pipefail
_net_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$_net_here/../../scripts/env.sh"

export L2LB_NET_ID="${L2LB_NET_ID:-lab}"
export L2LB_NET_DIR="${L2LB_NET_DIR:-${TMPDIR:-/tmp}/l2lb-net-$L2LB_NET_ID}"
net_onlink="${L2LB_NET_ONLINK-198.51.100.0/24 203.0.113.0/24 2001:db8:2::/64}"

net_say() { printf '\033[1m[net]\033[0m %s\n' "$*" >&2; }

net_ns() {
  case "$1" in
    bridge) echo "l2lb-$L2LB_NET_ID-br" ;;
    client) echo "l2lb-$L2LB_NET_ID-client" ;;
    *) echo "l2lb-$L2LB_NET_ID-$1" ;;
  esac
}

net_exec() { local ns; ns="$(net_ns "$1")"; shift; ip netns exec "$ns" "$@"; }

# net_port HOSTNS PORTNAME V4/LEN V6/LEN: veth eth0 in HOSTNS, its peer PORTNAME on the bridge.
net_port() {
  local hostns="$1" port="$2" br; br="$(net_ns bridge)"
  ip netns add "$hostns"
  ip -n "$br" link add "$port" type veth peer name eth0 netns "$hostns"
  ip -n "$br" link set "$port" master br0 up
  ip netns exec "$hostns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.eth0.accept_dad=0
  ip -n "$hostns" link set lo up
  ip -n "$hostns" link set eth0 up
  ip -n "$hostns" addr add "$3" dev eth0
  ip -n "$hostns" addr add "$4" dev eth0 nodad
}

net_check_addr() {
  case "$1" in
    192.0.2.*|198.51.100.*|203.0.113.*|2001:db8:*|2001:DB8:*) ;;
    *) net_say "refusing $1: only documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)"; return 1 ;;
  esac
}

net_up() {
  [[ "$L2LB_NET_ID" =~ ^[A-Za-z0-9-]{1,20}$ ]] || { net_say "bad L2LB_NET_ID '$L2LB_NET_ID'"; return 1; }
  [ "$(id -u)" = 0 ] || { net_say "needs root (ip netns)"; return 1; }
  if ip netns list | grep -q "^$(net_ns bridge)\b"; then net_say "network $L2LB_NET_ID already up (network.sh down first)"; return 1; fi
  local nodes=("$@") i=0 spec name addrs v4 v6 br names=()
  [ ${#nodes[@]} -gt 0 ] || read -r -a nodes <<<"${L2LB_NET_NODES:-}"
  [ ${#nodes[@]} -gt 0 ] || { net_say "no nodes given"; return 1; }
  trap 'net_say "up failed; tearing down"; net_down' ERR
  trap 'net_say "interrupted; tearing down"; net_down; exit 130' INT TERM
  mkdir -p "$L2LB_NET_DIR/pids" "$L2LB_NET_DIR/logs"
  br="$(net_ns bridge)"
  ip netns add "$br"
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip netns exec "$br" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$br" link set br0 up
  for spec in "${nodes[@]}"; do
    name="${spec%%=*}"
    [[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { net_say "bad node name '$name'"; return 1; }
    if [ "$spec" != "$name" ]; then addrs="${spec#*=}"; else addrs="192.0.2.$((11 + i)),2001:db8:1::$((11 + i))"; fi
    v4="${addrs%%,*}"; v6="${addrs#*,}"
    [ "$v6" != "$addrs" ] || v6="2001:db8:1::$((11 + i))"
    net_check_addr "$v4"; net_check_addr "$v6"
    net_say "$(net_ns "$name"): eth0 $v4/24 $v6/64"
    net_port "$(net_ns "$name")" "p$i" "$v4/24" "$v6/64"
    names+=("$name")
    i=$((i + 1))
  done
  net_say "$(net_ns client): eth0 192.0.2.100/24 2001:db8:1::100/64"
  net_port "$(net_ns client)" pc 192.0.2.100/24 2001:db8:1::100/64
  local p
  for p in $net_onlink; do
    net_check_addr "$p"
    ip -n "$(net_ns client)" route add "$p" dev eth0
  done
  printf '%s\n' "${names[@]}" >"$L2LB_NET_DIR/nodes"
  if [ -n "${L2LB_LAB_DIR:-}" ] && [ -f "$L2LB_LAB_DIR/apiserver.port" ]; then
    net_expose_api "$(cat "$L2LB_LAB_DIR/apiserver.port")"
  fi
  trap - ERR INT TERM
  net_env
}

net_env() {
  echo "L2LB_NET_ID=$L2LB_NET_ID"
  echo "L2LB_NET_DIR=$L2LB_NET_DIR"
  echo "L2LB_NET_NODES=\"$(tr '\n' ' ' <"$L2LB_NET_DIR/nodes" | sed 's/ $//')\""
  echo "L2LB_NET_CLIENT_NS=$(net_ns client)"
  echo "L2LB_NET_BRIDGE_NS=$(net_ns bridge)"
}

# net_expose_api PORT [NODE...]: relays 127.0.0.1:PORT in each node namespace to the root namespace's.
net_expose_api() {
  local port="$1" sock="$L2LB_NET_DIR/apiserver-$1.sock" name deadline; shift
  local nodes=("$@")
  [ ${#nodes[@]} -gt 0 ] || mapfile -t nodes <"$L2LB_NET_DIR/nodes"
  if [ ! -f "$L2LB_NET_DIR/pids/relay-root-$port.pid" ]; then
    setsid node "$_net_here/relay.ts" "unix:$sock" "tcp:127.0.0.1:$port" </dev/null \
      >>"$L2LB_NET_DIR/logs/relay-root-$port.log" 2>&1 &
    echo $! >"$L2LB_NET_DIR/pids/relay-root-$port.pid"
  fi
  for name in "${nodes[@]}"; do
    setsid ip netns exec "$(net_ns "$name")" node "$_net_here/relay.ts" "tcp:127.0.0.1:$port" "unix:$sock" \
      </dev/null >>"$L2LB_NET_DIR/logs/relay-$name-$port.log" 2>&1 &
    echo $! >"$L2LB_NET_DIR/pids/relay-$name-$port.pid"
  done
  deadline=$(($(date +%s) + 20))
  for name in root "${nodes[@]}"; do
    until grep -q listening "$L2LB_NET_DIR/logs/relay-$name-$port.log" 2>/dev/null; do
      [ "$(date +%s)" -lt "$deadline" ] || { net_say "relay $name did not start"; cat "$L2LB_NET_DIR/logs/relay-$name-$port.log" >&2; return 1; }
      sleep 0.2
    done
  done
  net_say "apiserver 127.0.0.1:$port reachable inside ${nodes[*]}"
}

net_down() {
  local f pid ns
  trap - ERR INT TERM
  for f in "$L2LB_NET_DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # Every namespace of this ID (deleting a namespace deletes its veth ends and the bridge).
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^l2lb-$L2LB_NET_ID-" || true); do
    # Processes left inside (a speaker the caller started) would keep it alive: say so.
    if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
      net_say "warning: processes still inside $ns: $(ip netns pids "$ns" | tr '\n' ' ')"
    fi
    ip netns delete "$ns" 2>/dev/null || true
  done
  case "$L2LB_NET_DIR" in /|/tmp|"$HOME") ;; *) rm -rf "$L2LB_NET_DIR" ;; esac
  net_say "network $L2LB_NET_ID down"
}

net_main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    up) net_up "$@" ;;
    down) net_down ;;
    ns) net_ns "$1" ;;
    exec) net_exec "$@" ;;
    expose-api) net_expose_api "$@" ;;
    env) net_env ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; [ -n "$cmd" ] && return 2 || return 0 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then net_main "$@"; fi
