"""A real single-node Slurm cluster for tests: munged + slurmctld + slurmd, everything under one temp dir
with a private SLURM_CONF, no systemd; started by hand and stopped by PID (after ../shared/SLURM.md).
No accounting (slurmdbd): torch2tf reads job states from squeue."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")       # stop order

SLURM_CONF = """ClusterName=t2t
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge/munge.sock
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
AccountingStoragePass={d}/munge/munge.sock
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
KillWait=5
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
NodeName=localhost CPUs={cpus} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def tool(name: str) -> str | None:
    """A daemon or client, also where Debian puts daemons (/usr/sbin, often not on a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def available() -> str | None:
    """Why a cluster cannot start here, or None."""
    missing = [t for t in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue") if not tool(t)]
    if missing:
        return f"Slurm is not installed (missing {', '.join(missing)}; Debian: slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root"
    return None


class Cluster:
    def __init__(self, root: Path, cpus: int = 2):
        self.root, self.cpus = root, cpus
        self.conf = root / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict:
        return {"SLURM_CONF": str(self.conf)}

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **self.env}, start_new_session=True)

    def _wait(self, what: str, ok, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} died while waiting for {what}; logs in {self.root / 'log'}")
            if ok():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}; logs in {self.root / 'log'}")

    def _answers(self, *argv: str) -> str | None:
        try:   # every poll bounded: a dead slurmctld makes the clients retry for minutes
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5, env={**os.environ, **self.env})
        except subprocess.TimeoutExpired:
            return None
        return out.stdout if out.returncode == 0 else None

    def start(self) -> "Cluster":
        d = self.root
        for sub in ("state", "spool", "log", "munge"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run([tool("mungekey"), "-c", "-f", "-k", str(d / "munge" / "munge.key")], check=True, capture_output=True)
        self._start("munged", [tool("munged"), "-F", "-f", f"--socket={d}/munge/munge.sock",
                               f"--key-file={d}/munge/munge.key", f"--pid-file={d}/munge/munged.pid",
                               f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge/seed"])
        self._wait("munge", lambda: (d / "munge" / "munge.sock").exists())
        self.conf.write_text(SLURM_CONF.format(d=d, cpus=self.cpus))
        self._start("slurmctld", [tool("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait("slurmctld", lambda: self._answers("scontrol", "ping") and "UP" in self._answers("scontrol", "ping"))
        self._start("slurmd", [tool("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait("slurmd idle", lambda: (self._answers("sinfo", "-h", "-o", "%T") or "").strip() == "idle")
        return self

    def stop(self) -> None:
        for name in DAEMONS:         # each by its own PID: slurmd leaves the process group
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        for leftover in ("slurmstepd",):    # a job step still running when slurmd went
            subprocess.run(["pkill", "-9", "-f", f"{leftover}.*{self.root}"], capture_output=True)

    def jobs(self) -> list[str]:
        return (self._answers("squeue", "-h", "-r", "-o", "%i %T") or "").splitlines()
