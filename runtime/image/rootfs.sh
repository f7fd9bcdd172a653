#!/bin/sh
# Assembles the speaker image's root file system under $1, in the image's build stage (Debian, with
# the speaker built in /src and its production node_modules in /prod). The image holds only what
# the speaker executes at run time:
#   /usr/local/bin/node   stripped, with the file capability cap_net_raw+ep (the only privilege)
#   /usr/bin/env          the interpreter of the bin's shebang (`#!/usr/bin/env -S node <flags>`),
#                         with cap_net_raw in its permitted set only: under no_new_privs
#                         (allowPrivilegeEscalation: false) an exec keeps no more than the caller
#                         had, so the capability must survive this one hop to node
#   /usr/bin/ip           iproute2: the data plane runs `ip monitor`, `ip -j addr`, `ip -j route get`
#   their shared libraries (as ldd lists them), /etc/iproute2, a passwd/group naming uid 65532, /tmp
#   /app                  package.json, the compiled speaker (dist/) and node_modules
# Usage: rootfs.sh OUT
set -eu
out="$1"

# add_program FILE: the file (dereferenced) and every shared library it loads, at their own paths.
add_program() {
  real="$(readlink -f "$1")"
  mkdir -p "$out$(dirname "$real")"
  cp "$real" "$out$real"
  ldd "$real" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' | while read -r lib; do
    dir="$(readlink -f "$(dirname "$lib")")"
    mkdir -p "$out$dir"
    cp -L "$lib" "$out$dir/$(basename "$lib")"
  done
}

mkdir -p "$out/usr" "$out/etc" "$out/tmp" "$out/app/dist"
chmod 1777 "$out/tmp"
# Debian's merged /usr: /bin, /lib, /lib64 are links into /usr, as in the build stage.
for d in bin sbin lib lib32 lib64; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$out/$d"; fi
done

add_program /usr/local/bin/node
add_program "$(command -v env)"
add_program "$(command -v ip)"
strip --strip-all "$out$(readlink -f /usr/local/bin/node)"
for d in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
  if [ -d "$d" ]; then mkdir -p "$out$(dirname "$d")" && cp -a "$d" "$out$d"; fi
done

printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nl2lb:x:65532:65532:l2lb:/nonexistent:/usr/sbin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nl2lb:x:65532:\n' >"$out/etc/group"
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"

cp /src/package.json "$out/app/package.json"
cp -a /src/dist/runtime /src/dist/provider "$out/app/dist/"
cp -a /prod/node_modules "$out/app/node_modules"

# The programs start in the new root (before the capabilities are set: the build itself may run
# without NET_RAW, and exec of a binary whose file capabilities exceed the bounding set fails).
chroot "$out" ip -V >/dev/null
chroot --userspec=65532:65532 "$out" /app/dist/runtime/speaker/main.js --help >/dev/null
chroot --userspec=65532:65532 "$out" /usr/local/bin/node -e "import('/app/dist/runtime/speaker/kubernetes-mode.js')"

setcap cap_net_raw+ep "$out$(readlink -f /usr/local/bin/node)"
setcap cap_net_raw+p "$out$(readlink -f "$(command -v env)")"
getcap "$out$(readlink -f /usr/local/bin/node)" | grep -q cap_net_raw
