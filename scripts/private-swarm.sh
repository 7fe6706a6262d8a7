#!/usr/bin/env bash
# A private Docker engine for swarm tests, so the machine's own engine never becomes a swarm:
# its own network namespace (a veth pair to the host), data root, exec root, pidfile and socket.
#   scripts/private-swarm.sh up <id> <subnet-octet>   -> prints the socket path once `docker swarm init` is done
#   scripts/private-swarm.sh down <id>                -> stops that engine (by its pidfile) and removes all it made
set -euo pipefail
cmd=$1 id=$2
root=/tmp/lbsw-$id ns=lbsw$id
case "$cmd" in
up)
  octet=${3:-201}
  mkdir -p "$root/data" "$root/exec"
  ip netns add "$ns"
  ip link add "vh$id" type veth peer name "vn$id"
  ip link set "vn$id" netns "$ns"
  ip addr add "10.$octet.0.1/30" dev "vh$id" && ip link set "vh$id" up
  ip netns exec "$ns" ip addr add "10.$octet.0.2/30" dev "vn$id"
  ip netns exec "$ns" ip link set "vn$id" up
  ip netns exec "$ns" ip link set lo up
  # `ip netns exec` gives a fresh /sys: the cgroup v1 hierarchies must be mounted again for dockerd.
  cat > "$root/start.sh" <<INNER
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do mkdir -p /sys/fs/cgroup/\$c; mount -t cgroup -o \$c cgroup /sys/fs/cgroup/\$c; done
mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
exec dockerd --data-root $root/data --exec-root $root/exec --pidfile $root/docker.pid -H unix://$root/docker.sock \
  --bridge none --iptables=false --ip-masq=false --default-address-pool base=10.$((octet+1)).0.0/16,size=24 --cgroup-parent $ns-docker
INNER
  nohup ip netns exec "$ns" bash "$root/start.sh" > "$root/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker -H "unix://$root/docker.sock" info >/dev/null 2>&1 && break; sleep 0.5; done
  docker -H "unix://$root/docker.sock" swarm init --advertise-addr "10.$octet.0.2" >/dev/null
  echo "$root/docker.sock"
  ;;
down)
  if [ -f "$root/docker.pid" ]; then
    pid=$(cat "$root/docker.pid")
    docker -H "unix://$root/docker.sock" swarm leave --force >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ip link del "vh$id" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  # Mounts the engine left under its roots (overlay layers, netns files) before the files go.
  grep -o " $root[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$root"
  ;;
esac
