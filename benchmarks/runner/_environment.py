"""What the machine was and what could not be tuned, as pyperf's system checks report."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

_CPU_SYS = Path("/sys/devices/system/cpu")
#: Frameworks under comparison, by distribution name, besides what backends declare.
FRAMEWORKS = ("uvloop", "twisted", "tornado", "gevent", "trio", "anyio")
#: Import names whose distribution names differ from them.
_DIST_OF = {"twisted": "twisted", "OpenSSL": "pyopenssl"}
HIGH_LOAD = 0.5  # a 1-minute load average per CPU above this means others are busy


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_model() -> str | None:
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Processor", "cpu model"):
            return value.strip()
    return platform.processor() or None


def governor(cpus: Iterable[int]) -> str | None:
    found = {g for cpu in cpus if (g := _read(_CPU_SYS / f"cpu{cpu}/cpufreq/scaling_governor"))}
    return ", ".join(sorted(found)) if found else None


def turbo() -> bool | None:
    no_turbo = _read(_CPU_SYS / "intel_pstate/no_turbo")
    if no_turbo in ("0", "1"):
        return no_turbo == "0"
    boost = _read(_CPU_SYS / "cpufreq/boost")
    if boost in ("0", "1"):
        return boost == "1"
    return None


def isolated_cpus() -> list[int] | None:
    text = _read(_CPU_SYS / "isolated")
    if text is None:
        return None
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        low, sep, high = part.partition("-")
        cpus.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    return cpus


DAMON_ADMIN = Path("/sys/kernel/mm/damon/admin")


def damon(admin: Path = DAMON_ADMIN) -> list[dict[str, Any]]:
    """The kernel's DAMON monitors that are running: each one's kdamond thread wakes
    every sampling interval and works through its regions at each aggregation, on
    whatever CPU it lands (0.7 ms and 4 ms on a CPU of a 2-core VM here); with an
    action such as ``pageout`` it also reclaims memory the benchmark left idle."""
    running = []
    for kdamond in sorted((admin / "kdamonds").glob("[0-9]*")):
        if _read(kdamond / "state") != "on":
            continue
        for context in sorted((kdamond / "contexts").glob("[0-9]*")):
            intervals = context / "monitoring_attrs" / "intervals"
            sample, aggr = (_read(intervals / name) for name in ("sample_us", "aggr_us"))
            actions = [
                _read(scheme / "action") for scheme in sorted((context / "schemes").glob("[0-9]*"))
            ]
            running.append(
                {
                    "pid": int(_read(kdamond / "pid") or 0) or None,
                    "sample_ms": int(sample) / 1e3 if sample and sample.isdigit() else None,
                    "aggregation_ms": int(aggr) / 1e3 if aggr and aggr.isdigit() else None,
                    "actions": [a for a in actions if a],
                }
            )
    return running


def is_vm() -> bool | None:
    """From the CPU's hypervisor flag, else the DMI product strings; None when unknown."""
    cpuinfo = _read(Path("/proc/cpuinfo"))
    if cpuinfo is not None:
        for line in cpuinfo.splitlines():
            if line.startswith("flags"):
                return " hypervisor" in f" {line.split(':', 1)[-1]} "
    dmi = " ".join(
        filter(
            None, (_read(Path(f"/sys/class/dmi/id/{n}")) for n in ("sys_vendor", "product_name"))
        )
    ).lower()
    if not dmi:
        return None
    markers = ("kvm", "qemu", "vmware", "virtualbox", "xen", "hyper-v", "bochs", "cloud")
    return any(m in dmi for m in markers)


def framework_versions(extra_modules: Iterable[str] = ()) -> dict[str, str | None]:
    packages = metadata.packages_distributions()
    names: list[str] = list(FRAMEWORKS)
    for module in extra_modules:
        top = module.split(".")[0]
        names.extend(packages.get(top, [_DIST_OF.get(top, top)]))
    versions: dict[str, str | None] = {}
    seen: set[str] = set()
    for name in sorted(names, key=str.lower):
        if name.lower() in seen:  # "Twisted" and "twisted" are one distribution
            continue
        seen.add(name.lower())
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def collect(
    *,
    command_line: Sequence[str],
    pinning: dict[str, list[int]],
    placement_warnings: Iterable[str] = (),
    extra_modules: Iterable[str] = (),
    local_server: bool = True,
) -> dict[str, Any]:
    """The ``environment`` object of the results file (see ``_results_schema``)."""
    used = sorted(set(pinning["server_cpus"]) | set(pinning["client_cpus"]))
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    env: dict[str, Any] = {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "frameworks": framework_versions(extra_modules),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "kernel": platform.version(),
        },
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "governor": governor(used),
        "turbo": turbo(),
        "isolated_cpus": isolated_cpus(),
        "vm": is_vm(),
        "damon": damon(),
        "load_average": load,
        "command_line": list(command_line),
        "git": git_state(),
        "started_at": now(),
        "finished_at": None,
        "pinning": pinning,
        "warnings": [],
    }
    env["warnings"] = [*placement_warnings, *system_warnings(env, used, local_server)]
    return env


def system_warnings(env: dict[str, Any], used_cpus: Sequence[int], local_server: bool) -> list[str]:
    """Sentences about what was not tuned; each one is a reason to distrust small gaps."""
    warnings: list[str] = []
    if env["vm"]:
        warnings.append("running in a virtual machine: steal time and noisy neighbours add noise")
    gov = env["governor"]
    if gov is None:
        warnings.append("CPU frequency governor unreadable (cannot check it is 'performance')")
    elif gov != "performance":
        warnings.append(f"CPU frequency governor is {gov!r}, not 'performance'")
    if env["turbo"]:
        warnings.append("turbo boost is on: clock speed varies with temperature and load")
    elif env["turbo"] is None:
        warnings.append("turbo boost state unreadable")
    if env.get("damon"):
        warnings.append(damon_said(env["damon"]))
    isolated = env["isolated_cpus"]
    if local_server and not (isolated and set(used_cpus) <= set(isolated)):
        warnings.append("the benchmark CPUs are not isolated (isolcpus): other tasks share them")
    # Whether others were busy is measured before the first case (``_quiet.host_warning``),
    # not guessed from the load average, which lags by a minute.
    return warnings


def damon_said(running: list[dict[str, Any]]) -> str:
    first = running[0]
    actions = ", ".join(a for m in running for a in m["actions"]) or "none"
    return (
        f"the kernel's DAMON is on (kdamond, sampling every {first['sample_ms']:g} ms, "
        f"aggregating every {first['aggregation_ms']:g} ms, actions: {actions}): its thread "
        "takes a CPU for up to milliseconds at a time, and an open loop's send lag and "
        "latency tail carry that (echobench client-lag names it)"
    )
