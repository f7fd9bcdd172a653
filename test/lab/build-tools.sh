#!/usr/bin/env bash
# Builds the lab's tools from Go modules, once, into the cache:
#
#   $L2LB_CACHE/tools/<name>-<version>/bin/
#     pulumi-<PULUMI_CLI_VERSION>/bin/         pulumi, pulumi-resource-pulumi-nodejs (dynamic-provider shim)
#     pulumi-language-nodejs-<PULUMI_VERSION>/bin/   pulumi-language-nodejs
#     pulumi-kubernetes-<PULUMI_KUBERNETES_VERSION>/bin/   pulumi-resource-kubernetes
#     kubernetes-<KUBERNETES_VERSION>/bin/      kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#     etcd-<ETCD_VERSION>/bin/                  etcd
#     kwok-<KWOK_VERSION>/bin/                  kwok
#     metallb-<METALLB_VERSION>/bin/            controller, speaker (MetalLB, for test/bench/metallb.bench.ts)
#     metallb-<METALLB_VERSION>/config/         its CRD bases, RBAC, controllers and metallb-native.yaml,
#                                               copied unchanged from the module (`go env GOMODCACHE`)
#
# Usage: test/lab/build-tools.sh [TOOL...]     TOOL = kubernetes | etcd | kwok | pulumi |
#                                                       pulumi-language-nodejs | pulumi-kubernetes | metallb
#        (default: all of them but metallb, in that order; metallb only when named)
#
# Each tool is built in a scratch wrapper module (generated here, never committed): its go.mod requires
# the real module at the pinned version and repeats that module's `replace` lines, with local paths
# (`=> ../sdk`, `=> ./staging/src/k8s.io/api`) turned into the published versions. A build goes to a
# temporary directory that is renamed into place only when complete, so a broken build never looks
# cached; a present directory is skipped. Versions come from scripts/versions.env.
#
# Env: L2LB_CACHE (from scripts/env.sh), GOPROXY/GOFLAGS as usual; L2LB_BUILD_JOBS (default 2).
# Output: progress on stderr, one timing line per build appended to $L2LB_CACHE/tools/build.log.
# Exit status: 1 when a build failed (the other tools are still built); a tool whose module the Go module
# proxy refuses to serve is reported UNAVAILABLE and does not fail the run unless L2LB_TOOLS_REQUIRE_ALL=1.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/env.sh"
. "$L2LB_ROOT/test/lab/tools.sh"

export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
jobs="${L2LB_BUILD_JOBS:-2}"
mkdir -p "$L2LB_TOOLS_DIR"
log="$L2LB_TOOLS_DIR/build.log"

say() { printf '\033[1m[build-tools]\033[0m %s\n' "$*" >&2; }

# upstream_gomod MODULE VERSION -> path of that module's go.mod in the module cache
upstream_gomod() {
  local out
  out="$(cd / && GOFLAGS= go mod download -json "$1@$2")" || {
    printf '%s\n' "$out" | sed -n 's/.*"Error": "\(.*\)".*/\1/p' >&2
    return 1
  }
  printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# replaces GOMOD LOCALVERSION: prints `replace` lines for a wrapper module: published-version replaces are
# repeated as they are; local-path replaces of a module become that module at LOCALVERSION; replaces to a
# FORBIDDEN_DEPENDENCY placeholder (guards against bad imports) are dropped.
replaces() {
  awk -v ver="$2" '
    function emit(line,   n, f, arrow, old, oldv, new, newv) {
      sub(/\/\/.*/, "", line); n = split(line, f, /[ \t]+/)
      arrow = 0; old = ""; oldv = ""; new = ""; newv = ""
      for (i = 1; i <= n; i++) {
        if (f[i] == "") continue
        if (f[i] == "=>") { arrow = 1; continue }
        if (!arrow) { if (old == "") old = f[i]; else oldv = f[i] }
        else { if (new == "") new = f[i]; else newv = f[i] }
      }
      if (old == "" || new == "") return
      if (new ~ /FORBIDDEN_DEPENDENCY/) return
      if (new ~ /^\.\.?\//) { new = old; newv = ver }
      printf "replace %s%s => %s %s\n", old, (oldv == "" ? "" : " " oldv), new, newv
    }
    /^replace[ \t]*\(/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    inblock { emit($0); next }
    /^replace[ \t]/ { sub(/^replace[ \t]+/, ""); emit($0) }
  ' "$1"
}

# build NAME VERSION MODULE MODVERSION LOCALVERSION LDFLAGS PKG... (PKG "etcdmain" = generated main;
# PKG "copied:<dir in MODULE>" = that command's directory copied into the wrapper and built there, after
# its `go:generate` step, for commands whose module zip lacks generated files they embed).
# EXTRA_REPLACE (newline-separated "old => new version") adds replace lines to the wrapper's go.mod.
build() {
  local name="$1" version="$2" module="$3" modversion="$4" localver="$5" ldflags="$6"; shift 6
  local dest="$L2LB_TOOLS_DIR/$name-$version" tmp gomod start end pkg tools=() mainpkg=""
  local have=1 copied=() dir src
  for pkg in "$@"; do
    [ "$pkg" = etcdmain ] && pkg=etcd
    pkg="${pkg#copied:}"
    [[ "$pkg" =~ /v[0-9]+$ ]] && pkg="${pkg%/v*}"   # go names a .../cmd/x/v3 binary x
    [ -x "$dest/bin/${pkg##*/}" ] || have=""
  done
  if [ -n "$have" ]; then say "$name $version: cached in $dest"; return 0; fi
  say "$name $version: building from $module@$modversion"
  start=$(date +%s)
  tmp="$(mktemp -d "$L2LB_TOOLS_DIR/.build-$name-XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  if ! gomod="$(upstream_gomod "$module" "$modversion")"; then
    say "$name $version: UNAVAILABLE: the Go module proxy does not serve $module@$modversion"
    printf '%s %s UNAVAILABLE %s@%s (module proxy refused) after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$module" "$modversion" "$(($(date +%s) - start))" >>"$log"
    return 3
  fi
  {
    printf 'module l2lb.invalid/build/%s\n\ngo 1.24.0\n\nrequire %s %s\n\n' "$name" "$module" "$modversion"
    replaces "$gomod" "$localver"
    [ -z "${EXTRA_REPLACE:-}" ] || printf '%s\n' "$EXTRA_REPLACE" | sed '/^$/d; s/^/replace /'
    for pkg in "$@"; do
      case "$pkg" in
        etcdmain) mainpkg=1 ;;
        copied:*) copied+=("${pkg#copied:}") ;;
        *) printf 'tool %s\n' "$pkg"; tools+=("$pkg") ;;
      esac
    done
  } >"$tmp/go.mod"
  if [ -n "$mainpkg" ]; then
    mkdir -p "$tmp/cmd/etcd"
    cat >"$tmp/cmd/etcd/main.go" <<'EOF'
// Generated by test/lab/build-tools.sh: the etcd server's own entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
    tools+=("./cmd/etcd")
  fi
  for dir in "${copied[@]}"; do
    src="$(cd / && GOFLAGS= go mod download -json "$module@$modversion" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')/$dir"
    mkdir -p "$tmp/$dir"
    cp "$src"/* "$tmp/$dir/"
    chmod -R u+w "$tmp/$dir"
    tools+=("./$dir")
  done
  say "$name: resolving modules (go mod tidy)"
  if ! (cd "$tmp" && go mod tidy >"$tmp/tidy.log" 2>&1); then
    say "$name $version: FAILED: go mod tidy"; tail -20 "$tmp/tidy.log" >&2
    printf '%s %s FAILED tidy after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$(($(date +%s) - start))" >>"$log"
    return 1
  fi
  for dir in "${copied[@]}"; do
    say "$name: go generate ./$dir"
    if ! (cd "$tmp/$dir" && go generate . >"$tmp/generate.log" 2>&1); then
      say "$name $version: FAILED: go generate"; tail -20 "$tmp/generate.log" >&2
      printf '%s %s FAILED generate after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$(($(date +%s) - start))" >>"$log"
      return 1
    fi
  done
  say "$name: compiling ${tools[*]} (-p $jobs)"
  mkdir -p "$tmp/out/bin"
  if ! (cd "$tmp" && go build -p "$jobs" -ldflags="-s -w $ldflags" -o "$tmp/out/bin/" "${tools[@]}" >"$tmp/build.log" 2>&1); then
    say "$name $version: FAILED: go build"; tail -30 "$tmp/build.log" >&2
    printf '%s %s FAILED build after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$(($(date +%s) - start))" >>"$log"
    return 1
  fi
  post_build "$name" "$tmp/out/bin" || return 1
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  end=$(date +%s)
  say "$name $version: built in $((end - start))s -> $dest/bin"
  printf '%s %s built in %ss (%s)\n' "$(date -u +%FT%TZ)" "$name-$version" "$((end - start))" "$(ls "$dest/bin" | tr '\n' ' ')" >>"$log"
}

post_build() {
  local name="$1" bin="$2"
  case "$name" in
    pulumi)
      # The dynamic-provider plugin: the engine starts it in the program's directory; it runs Node on
      # the @pulumi/pulumi found in the nearest node_modules, like a Node module resolution would.
      cat >"$bin/pulumi-resource-pulumi-nodejs" <<'EOF'
#!/bin/sh
# Pulumi's dynamic-provider plugin for Node.js programs (started by the engine in the program's directory).
dir="$PWD"
while :; do
  if [ -f "$dir/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js" ]; then
    exec node "$dir/node_modules/@pulumi/pulumi/cmd/dynamic-provider" "$@"
  fi
  [ "$dir" = / ] && break
  dir="$(dirname "$dir")"
done
echo "pulumi-resource-pulumi-nodejs: no node_modules/@pulumi/pulumi above $PWD" >&2
exit 1
EOF
      chmod +x "$bin/pulumi-resource-pulumi-nodejs"
      ;;
    etcd) [ -x "$bin/etcd" ] ;;
  esac
}

# install_module NAME VERSION MODULE PKG...: `go install PKG@vVERSION` (a module whose go.mod has no
# `replace` lines builds as published), then post_install copies what the tool needs besides binaries.
install_module() {
  local name="$1" version="$2" module="$3"; shift 3
  local dest="$L2LB_TOOLS_DIR/$name-$version" tmp start pkg have=1 refs=()
  for pkg in "$@"; do [ -x "$dest/bin/${pkg##*/}" ] || have=""; refs+=("$pkg@v$version"); done
  if [ -n "$have" ]; then say "$name $version: cached in $dest"; return 0; fi
  say "$name $version: go install ${refs[*]} (-p $jobs)"
  start=$(date +%s)
  tmp="$(mktemp -d "$L2LB_TOOLS_DIR/.build-$name-XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  if ! upstream_gomod "$module" "v$version" >/dev/null; then
    say "$name $version: UNAVAILABLE: the Go module proxy does not serve $module@v$version"
    printf '%s %s UNAVAILABLE %s@v%s (module proxy refused) after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$module" "$version" "$(($(date +%s) - start))" >>"$log"
    return 3
  fi
  mkdir -p "$tmp/out/bin"
  if ! (cd "$tmp" && GOBIN="$tmp/out/bin" GOFLAGS="$GOFLAGS -mod=mod" go install -p "$jobs" -ldflags="-s -w" "${refs[@]}" >"$tmp/build.log" 2>&1); then
    say "$name $version: FAILED: go install"; tail -30 "$tmp/build.log" >&2
    printf '%s %s FAILED install after %ss\n' "$(date -u +%FT%TZ)" "$name-$version" "$(($(date +%s) - start))" >>"$log"
    return 1
  fi
  post_install "$name" "$module" "v$version" "$tmp/out" || return 1
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  say "$name $version: built in $(($(date +%s) - start))s -> $dest/bin"
  printf '%s %s built in %ss (%s)\n' "$(date -u +%FT%TZ)" "$name-$version" "$(($(date +%s) - start))" "$(ls "$dest/bin" | tr '\n' ' ')" >>"$log"
}

# post_install NAME MODULE VERSION OUT: MetalLB's manifests, copied unchanged from the module cache.
post_install() {
  local dir
  case "$1" in
    metallb)
      dir="$(cd / && GOFLAGS= go mod download -json "$2@$3" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
      [ -d "$dir/config/crd/bases" ] || { say "metallb: no config/crd/bases in $dir"; return 1; }
      mkdir -p "$4/config/crd" "$4/config/manifests"
      cp -r "$dir/config/crd/bases" "$4/config/crd/"
      cp -r "$dir/config/rbac" "$dir/config/controllers" "$4/config/"
      cp "$dir/config/manifests/metallb-native.yaml" "$4/config/manifests/"
      chmod -R u+w "$4/config"
      printf '%s@%s %s\n' "$2" "$3" "$dir" >"$4/config/SOURCE"
      ;;
  esac
}

kube_ldflags() {
  local v="v$KUBERNETES_VERSION" major minor pkg flags=""
  major="${KUBERNETES_VERSION%%.*}"; minor="${KUBERNETES_VERSION#*.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

k8s_staging_version() { printf 'v0.%s' "${KUBERNETES_VERSION#*.}"; }

build_one() {
  case "$1" in
    kubernetes)
      build kubernetes "$KUBERNETES_VERSION" k8s.io/kubernetes "v$KUBERNETES_VERSION" "$(k8s_staging_version)" "$(kube_ldflags)" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
    etcd)
      build etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" "v$ETCD_VERSION" "" etcdmain ;;
    kwok)
      build kwok "$KWOK_VERSION" sigs.k8s.io/kwok "v$KWOK_VERSION" "v$KWOK_VERSION" \
        "-X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok ;;
    pulumi)
      # The CLI lives in pkg/v3 (replace sdk/v3 => ../sdk and others); the Node.js language host is its
      # own module under sdk/nodejs/cmd.
      # pkg/v3 needs github.com/atotto/clipboard, whose tagged sources the proxy does not serve: a fork with
      # the same API stands in.
      local cli="${PULUMI_CLI_VERSION:-$PULUMI_VERSION}"
      EXTRA_REPLACE="github.com/atotto/clipboard => github.com/tgummerer/clipboard $PULUMI_CLI_CLIPBOARD_FORK" \
      build pulumi "$cli" github.com/pulumi/pulumi/pkg/v3 "v$cli" "v$cli" \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$cli" \
        github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ;;
    pulumi-language-nodejs)
      build pulumi-language-nodejs "$PULUMI_VERSION" github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 \
        "v$PULUMI_VERSION" "v$PULUMI_VERSION" \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
        github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 ;;
    pulumi-kubernetes)
      # The provider's module is served only at the commit of the release (a pseudo-version); its sdk/v4
      # replace (=> ../sdk) becomes the released SDK module. The command embeds a schema its
      # `go:generate` writes with the version (VERSION), so the command is copied and generated here.
      VERSION="$PULUMI_KUBERNETES_VERSION" \
      build pulumi-kubernetes "$PULUMI_KUBERNETES_VERSION" github.com/pulumi/pulumi-kubernetes/provider/v4 \
        "$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION" "v$PULUMI_KUBERNETES_VERSION" \
        "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=v$PULUMI_KUBERNETES_VERSION" \
        copied:cmd/pulumi-resource-kubernetes ;;
    metallb)
      install_module metallb "$METALLB_VERSION" go.universe.tf/metallb \
        go.universe.tf/metallb/controller go.universe.tf/metallb/speaker ;;
    *) say "unknown tool: $1"; return 2 ;;
  esac
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(kubernetes etcd kwok pulumi pulumi-language-nodejs pulumi-kubernetes)
failed=() unavailable=()
for t in "${wanted[@]}"; do
  rc=0; build_one "$t" || rc=$?
  case "$rc" in 0) ;; 3) unavailable+=("$t") ;; *) failed+=("$t") ;; esac
done
if [ ${#unavailable[@]} -gt 0 ]; then
  say "UNAVAILABLE here (their modules cannot be downloaded): ${unavailable[*]}"
  case " ${unavailable[*]} " in *" pulumi-language-nodejs "*)
    say "  pulumi-language-nodejs: test/lab/pulumi.sh puts the lab's own host (test/lab/language-host.ts) in its place" ;;
  esac
  case " ${unavailable[*]} " in *" pulumi-kubernetes "*)
    say "  pulumi-kubernetes: @pulumi/kubernetes resources cannot be deployed; tests needing them skip" ;;
  esac
fi
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (see messages above and $log)"
  exit 1
fi
if [ ${#unavailable[@]} -gt 0 ] && [ -n "${L2LB_TOOLS_REQUIRE_ALL:-}" ]; then exit 1; fi
say "done; tools under $L2LB_TOOLS_DIR"
