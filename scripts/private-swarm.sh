#!/usr/bin/env bash
# A private Docker engine for swarm tests, so the machine's own engine never becomes a swarm:
# its own network namespace (a veth pair to the host), data root, exec root, pidfile and socket.
#   scripts/private-swarm.sh up <id> <subnet-octet>   -> prints the socket path once `docker swarm init` is done
#   scripts/private-swarm.sh join <id> <manager-id> <subnet-octet> -> a second engine, linked to the manager's
#                                                       namespace by a veth pair, joined to its swarm as a worker
#   scripts/private-swarm.sh down <id>                -> stops that engine (by its pidfile) and removes all it made
set -euo pipefail
cmd=$1 id=$2
root=/tmp/lbsw-$id ns=lbsw$id
start_engine() {
  local octet=$1
  mkdir -p "$root/data" "$root/exec"
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
}

case "$cmd" in
up)
  octet=${3:-201}
  ip netns add "$ns"
  ip link add "vh$id" type veth peer name "vn$id"
  ip link set "vn$id" netns "$ns"
  ip addr add "10.$octet.0.1/30" dev "vh$id" && ip link set "vh$id" up
  ip netns exec "$ns" ip addr add "10.$octet.0.2/30" dev "vn$id"
  ip netns exec "$ns" ip link set "vn$id" up
  start_engine "$octet"
  docker -H "unix://$root/docker.sock" swarm init --advertise-addr "10.$octet.0.2" >/dev/null
  echo "$root/docker.sock"
  ;;
join)
  manager=$3 octet=$4
  mns=lbsw$manager msock=/tmp/lbsw-$manager/docker.sock
  maddr=$(docker -H "unix://$msock" info --format '{{.Swarm.NodeAddr}}')
  ip netns add "$ns"
  # A direct link between the two namespaces; the worker reaches the manager's address through it.
  ip link add "pm$id" netns "$mns" type veth peer name "pw$id" netns "$ns"
  ip netns exec "$mns" ip addr add "10.$octet.1.1/30" dev "pm$id"
  ip netns exec "$mns" ip link set "pm$id" up
  ip netns exec "$ns" ip addr add "10.$octet.1.2/30" dev "pw$id"
  ip netns exec "$ns" ip link set "pw$id" up
  ip netns exec "$ns" ip route add "$maddr/32" via "10.$octet.1.1"
  # Symmetric: the manager answers from the address it advertises (the overlay's VXLAN peers are node addresses).
  ip netns exec "$mns" ip route replace "10.$octet.1.2/32" dev "pm$id" src "$maddr"
  start_engine "$((octet + 2))"
  token=$(docker -H "unix://$msock" swarm join-token -q worker)
  docker -H "unix://$root/docker.sock" swarm join --advertise-addr "10.$octet.1.2" --token "$token" "$maddr:2377" >/dev/null
  echo "$root/docker.sock"
  ;;
down)
  if [ -f "$root/docker.pid" ]; then
    pid=$(cat "$root/docker.pid")
    timeout 10 docker -H "unix://$root/docker.sock" swarm leave --force >/dev/null 2>&1 || true
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
