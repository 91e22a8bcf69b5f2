"""``echobench doctor``: is this host fit to benchmark now, and why (or why not)?

It measures the host for a few seconds (``_hostcheck``: steal, other work, the wake-up
latency of an idle CPU) and reads what it can of its tuning (load, governor, turbo,
isolated CPUs, a VM), then prints one line per check and a verdict. A check either
fails (the host is not fit: numbers measured now would carry the host's noise), warns
(fit, but a kind of number is biased: say so beside it), or informs. The exit status is
0 when fit, 1 when not, 2 when the host cannot be measured (/proc lacks a field).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

HELP = "measure this host for a few seconds and say whether it is fit to benchmark now, and why"

OK, WARN, FAIL, INFO = "ok", "warn", "FAIL", "info"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN, FAIL or INFO
    said: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.lower(), "said": self.said}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="how long to measure (default 5)"
    )
    parser.add_argument(
        "--cpus", metavar="LIST", help="the CPUs to examine, e.g. 0-1 (default: every usable one)"
    )
    parser.add_argument(
        "--max-interference",
        metavar="PCT",
        help="steal or other work above this share of a CPU makes the host unfit (default "
        "5%%, as echobench run --max-interference)",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write every figure as JSON to PATH ('-': stdout)"
    )
    parser.add_argument(
        "--proc", metavar="DIR", default="/proc", help="read this instead of /proc (a test's)"
    )


def _checks(check: Any, env: dict[str, Any], cpus: list[int], threshold: float) -> list[Check]:
    checks = _cpu_checks(check, threshold)
    checks += _load_check(env, cpus)
    checks += _wakeup_check(check, threshold)
    return checks + _machine_checks(env, cpus)


def _cpu_checks(check: Any, threshold: float) -> list[Check]:
    """Steal and run delay on the run's CPUs, against the threshold."""
    sample = check.sample
    limit = f"(limit {threshold:g}%)"
    steal = {c: v for c, v in sample.steal_pct.items() if v is not None}
    worst = max(steal, key=lambda c: steal[c])
    checks = [
        Check(
            "steal",
            FAIL if steal[worst] > threshold else OK,
            f"the hypervisor took up to {steal[worst]:.1f}% of CPU {worst} {limit}"
            + (
                ": other guests share these vCPUs; wait, or measure elsewhere"
                if steal[worst] > threshold
                else ""
            ),
        )
    ]
    others = sample.others_pct
    busiest = max(others, key=lambda c: others[c])
    waits = check.wakeup_wait_us
    wait = f"; a waking task waited {waits[busiest]:.0f} µs on average" if busiest in waits else ""
    checks.append(
        Check(
            "run delay",
            FAIL if others[busiest] > threshold else OK,
            f"other tasks held CPU {busiest} for {others[busiest]:.1f}% of the time {limit}{wait}"
            + (": a benchmark would wait behind them" if others[busiest] > threshold else ""),
        )
    )
    return checks


def _load_check(env: dict[str, Any], cpus: list[int]) -> list[Check]:
    from echobench.benchmarks.runner._environment import HIGH_LOAD

    checks: list[Check] = []
    load = env["load_average"]
    if load:
        high = load[0] > HIGH_LOAD * len(cpus)
        checks.append(
            Check(
                "load",
                WARN if high else OK,
                f"1-minute load average {load[0]:g} on {env['cpu_count']} CPUs"
                + (" (it lags: others were busy within the last minute)" if high else ""),
            )
        )
    return checks


def _wakeup_check(check: Any, threshold: float) -> list[Check]:
    """How late a sleeping thread woke on the slowest CPU, and why."""
    from echobench.benchmarks.runner._hostcheck import SLOW_WAKEUP_US

    others = check.sample.others_pct
    checks: list[Check] = []
    slowest = check.slowest_wakeup()
    if slowest is not None:
        cpu, figures = slowest
        slow = figures["p99"] > SLOW_WAKEUP_US
        why = ""
        if slow and others[cpu] > threshold:
            why = ": mostly waiting for the CPU behind other tasks (see run delay)"
        elif slow:
            why = (
                ": a halted vCPU wakes slowly, so 1-connection throughput and low-load "
                "latency measure the wake-up (echobench run --awake keeps the server's "
                "CPUs awake)"
            )
        checks.append(
            Check(
                "wake-up",
                WARN if slow else OK,
                f"a thread sleeping 1-5 ms woke {figures['p50']:.0f} µs late at p50, "
                f"{figures['p99']:.0f} µs at p99 (CPU {cpu}){why}",
            )
        )
    return checks


def _machine_checks(env: dict[str, Any], cpus: list[int]) -> list[Check]:
    """What the machine is set to: governor, turbo, isolated CPUs, DAMON, a VM."""
    checks: list[Check] = []
    governor = env["governor"]
    checks.append(
        Check(
            "governor",
            INFO if governor is None else OK if governor == "performance" else WARN,
            "CPU frequency governor unreadable (none exposed, as in most VMs)"
            if governor is None
            else f"CPU frequency governor {governor!r}"
            + ("" if governor == "performance" else ": the clock changes with load"),
        )
    )
    turbo = env["turbo"]
    checks.append(
        Check(
            "turbo",
            INFO if turbo is None else WARN if turbo else OK,
            "turbo boost state unreadable"
            if turbo is None
            else "turbo boost on: the clock varies with temperature and load"
            if turbo
            else "turbo boost off",
        )
    )
    isolated = env["isolated_cpus"] or []
    apart = set(cpus) <= set(isolated)
    checks.append(
        Check(
            "isolation",
            OK if apart else WARN,
            f"CPUs {_cpu_list(cpus)} are isolated (isolcpus)"
            if apart
            else f"CPUs {_cpu_list(cpus)} are not isolated (isolcpus): any task may be "
            "scheduled on them, which the run delay check measures",
        )
    )
    if env.get("damon"):
        from echobench.benchmarks.runner._environment import damon_said

        checks.append(Check("reclaim", WARN, damon_said(env["damon"])))
    if env["vm"]:
        checks.append(
            Check(
                "vm",
                INFO,
                "a virtual machine: steal and vCPU wake-ups add noise; the checks above "
                "measure both",
            )
        )
    return checks


def _cpu_list(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from echobench.benchmarks.runner import _environment, _hostcheck, _interference, _isolation
    from echobench.benchmarks.runner._results_schema import dumps, write_results
    from echobench.servers._errors import UserError

    if not 0.2 <= args.seconds <= 600:
        raise UserError(f"--seconds must be from 0.2 to 600, not {args.seconds:g}")
    threshold = _interference.parse_threshold(args.max_interference)
    usable = _isolation.usable_cpus()
    cpus = _isolation.parse_cpu_list(args.cpus, "cpus") if args.cpus else usable
    outside = sorted(set(cpus) - set(usable))
    if outside:
        raise UserError(f"--cpus: CPU {outside[0]} is not available (usable: {_cpu_list(usable)})")
    say = sys.stderr if args.json == "-" else sys.stdout
    print(f"echobench doctor: measuring CPUs {_cpu_list(cpus)} for {args.seconds:g} s", file=say)
    try:
        check = _hostcheck.examine(cpus, args.seconds, threshold, Path(args.proc))
    except _hostcheck.ProbeError as exc:
        raise UserError(f"cannot examine this host: {exc}") from None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    env: dict[str, Any] = {
        "load_average": load,
        "cpu_count": os.cpu_count(),
        "governor": _environment.governor(cpus),
        "turbo": _environment.turbo(),
        "isolated_cpus": _environment.isolated_cpus(),
        "vm": _environment.is_vm(),
        "damon": _environment.damon(),
    }
    checks = _checks(check, env, cpus, threshold)
    width = max(len(c.name) for c in checks)
    for item in checks:
        print(f"  {item.status:<5} {item.name:<{width}}  {item.said}", file=say)
    failed = [c for c in checks if c.status == FAIL]
    fit = not failed
    verdict = (
        "fit to benchmark now"
        if fit
        else "not fit to benchmark now: " + "; ".join(c.name for c in failed)
    )
    print(verdict, file=say)
    if args.json is not None:
        doc = {
            "schema": "echobench.doctor",
            "schema_version": 1,
            "fit": fit,
            "verdict": verdict,
            "seconds": args.seconds,
            "cpus": cpus,
            "threshold_pct": threshold,
            "checks": [c.as_dict() for c in checks],
            "host": check.as_dict(),
            **env,
        }
        if args.json == "-":
            sys.stdout.write(dumps(doc))
        else:
            try:
                write_results(args.json, doc)
            except OSError as exc:
                raise UserError(f"cannot write {args.json}: {exc.strerror}") from None
    return 0 if fit else 1
