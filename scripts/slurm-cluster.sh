#!/usr/bin/env bash
# A real SLURM cluster on this machine, for the tests and for trying the
# slurm= transport: munged, slurmctld and slurmd, with every file (config,
# key, state, logs, sockets) under one directory, so nothing in /etc is
# touched and `stop` leaves nothing behind. Needs root (the daemons run as
# root, munged as user munge) and Debian's slurm-wlm and munge.
#
#   scripts/slurm-cluster.sh start DIR [NAME=ADDRESS ...]
#       Write DIR/slurm.conf and start munged and slurmctld. Without nodes:
#       one node, this machine, whose slurmd is started too. With nodes
#       (e.g. hosts in network namespaces), slurmctld listens on CTLD_ADDRESS
#       (default 127.0.0.1) and each node's slurmd is started by the caller
#       where that node lives, with `slurm-cluster.sh slurmd DIR NAME`.
#       Prints `export SLURM_CONF=DIR/slurm.conf` when the cluster answers.
#   scripts/slurm-cluster.sh slurmd DIR NAME
#       Run node NAME's slurmd in the foreground (exec: its pid is yours).
#   scripts/slurm-cluster.sh wait DIR [SECONDS]
#       Wait until every node is idle.
#   scripts/slurm-cluster.sh stop DIR
#       Cancel every job, stop the daemons, remove DIR.
#
# Environment: CTLD_PORT (default 6817), SLURMD_PORT (default 6818), CTLD_ADDRESS.
set -euo pipefail

die () { echo "slurm-cluster: $*" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|slurmd|wait|stop DIR ..."
shift 2

pids_of () { # the pids in DIR's pid files
  for f in "$dir"/run/*.pid; do [ -f "$f" ] && cat "$f"; done 2>/dev/null || true
}

strays () { # this cluster's slurmstepd left running, and their tasks
  local pid
  for pid in $(pgrep -x slurmstepd); do
    if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$dir/slurm.conf"; then
      pgrep -P "$pid" || true
      echo "$pid"
    fi
  done
}

stop_all () {
  if [ -f "$dir/slurm.conf" ]; then
    SLURM_CONF="$dir/slurm.conf" scancel --quiet --user=root 2>/dev/null || true
    # the steps end within KillWait; daemons killed before would orphan them
    for _ in $(seq 50); do
      [ -z "$(SLURM_CONF="$dir/slurm.conf" squeue --noheader 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  for pid in $(pids_of); do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in $(pids_of); do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in $(pids_of) $(strays); do kill -9 "$pid" 2>/dev/null || true; done
}

wait_idle () {
  local seconds=${1:-30} i
  for ((i = 0; i < seconds * 10; i++)); do
    # every node up and idle: sinfo prints one state per line
    states=$(SLURM_CONF="$dir/slurm.conf" sinfo --noheader --format=%t 2>/dev/null | sort -u || true)
    [ "$states" = "idle" ] && return 0
    sleep 0.1
  done
  echo "slurm-cluster: the cluster in $dir is not idle after ${seconds}s (sinfo: ${states:-no answer}); its logs:" >&2
  tail -n 20 "$dir"/log/* "$dir"/munge/munged.log >&2 2>/dev/null || true
  return 1
}

case "$cmd" in
start)
  command -v slurmctld >/dev/null && command -v munged >/dev/null || die "slurmctld and munged are not installed (Debian: slurm-wlm munge)"
  [ "$(id -u)" = 0 ] || die "needs root"
  mkdir -p "$dir"/{run,log,state,spool,munge,munge-key}
  dir=$(cd "$dir" && pwd)
  # munged wants its key private to its user, and its socket's directory
  # owned by it and open to every client (slurmd, srun)
  dd if=/dev/urandom bs=1 count=1024 of="$dir/munge-key/munge.key" status=none
  chmod 700 "$dir/munge-key"; chmod 400 "$dir/munge-key/munge.key"
  chmod 755 "$dir" "$dir/run" "$dir/munge"
  chown -R munge:munge "$dir/munge" "$dir/munge-key"
  su -s /bin/sh munge -c "munged --key-file='$dir/munge-key/munge.key' --socket='$dir/munge/socket' \
      --pid-file='$dir/munge/munged.pid' --log-file='$dir/munge/munged.log' --seed-file='$dir/munge/seed'"
  cp "$dir/munge/munged.pid" "$dir/run/munged.pid"

  cores=$(nproc)
  memory=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
  nodes=""
  if [ $# -eq 0 ]; then
    ctld_address=127.0.0.1
    nodes="NodeName=$(hostname) NodeAddr=127.0.0.1 CPUs=$cores RealMemory=$memory State=UNKNOWN"
    names=$(hostname)
  else
    ctld_address=${CTLD_ADDRESS:-127.0.0.1}
    names=""
    for node in "$@"; do
      name=${node%%=*}; address=${node#*=}
      nodes="$nodes"$'\n'"NodeName=$name NodeHostname=$name NodeAddr=$address CPUs=$cores RealMemory=$memory State=UNKNOWN"
      names="$names${names:+,}$name"
    done
  fi
  cat > "$dir/slurm.conf" <<CONF
ClusterName=execnet
SlurmctldHost=$(hostname)($ctld_address)
SlurmctldPort=${CTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ReturnToService=2
MpiDefault=none
# a request no node can meet is refused at once, not left pending forever
EnforcePartLimits=ALL
# a test cancels and restarts jobs often: no waiting between them
KillWait=2
MinJobAge=10
InactiveLimit=0
$nodes
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  SLURM_CONF="$dir/slurm.conf" slurmctld -i
  if [ $# -eq 0 ]; then
    mkdir -p "$dir/spool/$(hostname)"
    SLURM_CONF="$dir/slurm.conf" slurmd
    # a cluster that does not come up is stopped, not left half-running
    wait_idle 30 || { stop_all; exit 1; }
  fi
  echo "export SLURM_CONF=$dir/slurm.conf"
  ;;
slurmd)
  name=${1:?node name}
  mkdir -p "$dir/spool/$name"
  # -N: this slurmd is node NAME, whatever the machine's hostname (the
  # nodes in network namespaces share it); -D: in the foreground
  SLURM_CONF="$dir/slurm.conf" exec slurmd -D -N "$name"
  ;;
wait)
  wait_idle "${1:-30}" || exit 1
  ;;
stop)
  [ -d "$dir" ] || exit 0
  stop_all
  rm -rf "$dir"
  ;;
*)
  die "unknown command $cmd"
  ;;
esac
