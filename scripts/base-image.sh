#!/usr/bin/env bash
# Prints the base image to build the services from.
# NODE_IMAGE (default node:20-alpine) when it is present or can be pulled; otherwise,
# offline, a local image made of this machine's own node binary and the libraries ldd lists.
set -euo pipefail
want=${NODE_IMAGE:-node:20-alpine}
node_bin=$(readlink -f "$(command -v node)")
local_image=${LOCAL_NODE_IMAGE:-lb-node-local:$(node --version)}

if docker image inspect "$want" >/dev/null 2>&1 || timeout 120 docker pull -q "$want" >/dev/null 2>&1; then
  echo "$want"
  exit 0
fi
if docker image inspect "$local_image" >/dev/null 2>&1; then
  echo "$local_image"
  exit 0
fi

echo "base image $want cannot be pulled: building $local_image from $node_bin" >&2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/app" "$root/home/node"
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"
# Shared libraries: "libx.so => /path (addr)" lines and the bare loader line "/lib64/ld-linux... (addr)".
ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$root/etc/group"
chown 1000:1000 "$root/home/node"
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'CMD ["node"]' \
  -m "node $(node --version) from the build host (offline fallback)" - "$local_image" >/dev/null
docker run --rm "$local_image" node -e 'process.exit(0)' >/dev/null
echo "$local_image"
