#!/usr/bin/env bash
# A single-machine Slurm cluster for tests (issue #10), from Debian's packages.
#
#   scripts/slurm_cluster.sh start STATE_DIR [CPUS]   install slurm-wlm + munge if missing, write a munge
#                                                     key and slurm.conf under STATE_DIR, start munged,
#                                                     slurmctld and slurmd on this machine only; prints
#                                                     the SLURM_CONF to export for sbatch/squeue/sacct
#   scripts/slurm_cluster.sh stop STATE_DIR           end them by the PIDs they wrote
#   scripts/slurm_cluster.sh env STATE_DIR            print `export SLURM_CONF=…`
#
# Everything lives in STATE_DIR (key, sockets, spool, state, logs, PID files);
# nothing under /etc is touched, and the ports are chosen free at start. The
# node declares CPUS (default 4) CPUs whatever the hardware has
# (SlurmdParameters=config_overrides), so several array tasks run at once on a
# small machine. No cgroups, no accounting database: proctrack/linuxproc,
# task/none; `sacct` is not available, `squeue` and `scontrol show job` are.
set -euo pipefail

cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || { sed -n '2,10p' "$0"; exit 2; }
mkdir -p "$state"
state=$(cd "$state" && pwd)
conf="$state/slurm.conf"

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return; fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local cpus=${1:-4}
    install
    stop_all quiet
    mkdir -p "$state"/{munge,spool,ctld,log}
    chmod 700 "$state/munge"
    if [ ! -f "$state/munge/munge.key" ]; then
        dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$state/munge/munge.key"
    fi
    # munged refuses to run as root unless forced; --force also accepts our key's directory.
    munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
        --pid-file="$state/munge/munged.pid" --log-file="$state/log/munged.log" \
        --seed-file="$state/munge/munged.seed"
    local host user ctld_port slurmd_port
    host=$(hostname -s)
    user=$(id -un)
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    cat > "$conf" <<EOF
ClusterName=repo2agent-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4096 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    export SLURM_CONF="$conf"
    slurmctld -f "$conf" -i
    slurmd -f "$conf"
    # Wait until the node takes jobs.
    for _ in $(seq 1 60); do
        if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
            echo "export SLURM_CONF=$conf"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm_cluster: the node did not come up; logs in $state/log" >&2
    tail -n 20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
    stop_all quiet
    exit 1
}

stop_all() {
    local pidfile
    for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
        if pid_alive "$pidfile"; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            for _ in $(seq 1 40); do pid_alive "$pidfile" || break; sleep 0.25; done
            if pid_alive "$pidfile"; then kill -9 "$(cat "$pidfile")" 2>/dev/null || true; fi
        fi
        rm -f "$pidfile"
    done
    [ "${1:-}" = quiet ] || echo "slurm_cluster: stopped"
}

case "$cmd" in
    start) start "${3:-4}" ;;
    stop) stop_all ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
esac
