"""From the command line (or an interrupted run's file) to a run: config, cases, placement."""

from __future__ import annotations

import argparse
import importlib
import math
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from echobench.benchmarks.runner import (
    _autorepeat,
    _awake,
    _environment,
    _interference,
    _isolation,
    _journal,
    _quiet,
    _scenarios,
    _shield,
)
from echobench.benchmarks.runner._isolation import Placement
from echobench.benchmarks.runner._matrix import (
    ORDERS,
    TRANSPORTS,
    Case,
    build_cases,
    parse_connections,
    parse_duration_us,
    parse_int_list,
    parse_names,
    parse_percent,
    parse_percentages,
    parse_rates,
)
from echobench.benchmarks.runner._measure import OVERHEAD_SECONDS, MeasureSettings
from echobench.benchmarks.runner._results import new_document
from echobench.benchmarks.runner._results_schema import RunConfig, load_results, write_results
from echobench.benchmarks.runner._runner import AutoRepeat, Runner
from echobench.benchmarks.runner._serverhost import NoServerWorker, ServerHost
from echobench.benchmarks.runner._terminal import print_report
from echobench.servers._contract import parse_address
from echobench.servers._errors import UserError

#: ``--awake`` and ``--shield``'s words, as the config holds them.
ON_OFF_AUTO: dict[str, bool | str] = {"on": True, "off": False, "auto": "auto"}
#: Rough rate of a connect storm plus the memory reading after it, for the estimate.
CONNECTS_PER_SECOND = 4000
#: A backend that can run: its name, family and transports.
Runnable = tuple[str, str, Any]


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The matrix options the user typed, parsed; absent ones are left out."""
    given: dict[str, Any] = {}
    if args.backends is not None:
        given["backends"] = parse_names(args.backends, "backends")
    if args.sizes is not None:
        given["sizes"] = parse_int_list(args.sizes, "sizes")
    if args.connections is not None:
        given["connections"], given["idle"] = parse_connections(args.connections)
    if args.rates is not None:
        given["rates"] = parse_rates(args.rates)
    if args.transports is not None:
        given["transports"] = parse_names(args.transports, "transports", TRANSPORTS)
    for name, minimum in (("duration", 0.1), ("warmup", 0.0)):
        value = getattr(args, name)
        if value is not None:
            if not math.isfinite(value) or value < minimum:
                raise UserError(f"--{name} must be at least {minimum:g} seconds, not {value:g}")
            given[name] = value
    if args.repeat is not None:
        given["repeat"] = _repeat(args.repeat)
    for name in ("workers", "min_repeat", "max_repeat", "max_windows"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
            given[name] = value
    if args.target_ci is not None:
        given["target_ci"] = parse_percent(args.target_ci, "target-ci")
    if args.seed is not None:
        given["seed"] = args.seed
    if args.order is not None:
        given["order"] = args.order
    if args.server_options:
        given["server_options"] = parse_server_options(args.server_options)
    for name in ("awake", "shield"):
        if getattr(args, name) is not None:
            given[name] = ON_OFF_AUTO[getattr(args, name)]
    if args.interference is not None:
        given["interference"] = args.interference
    if args.max_interference is not None:
        given["max_interference"] = _interference.parse_threshold(args.max_interference)
    if args.disturbed_retries is not None:
        if args.disturbed_retries < 0:
            raise UserError(f"--disturbed-retries must be 0 or more, not {args.disturbed_retries}")
        given["disturbed_retries"] = args.disturbed_retries
    if args.quiet_timeout is not None:
        given["quiet_timeout"] = _seconds(args.quiet_timeout, "quiet-timeout", 0.0)
    if args.readline is not None:
        if args.readline < 0:
            raise UserError(f"--readline takes a number of lines, not {args.readline}")
        given["readline"] = args.readline
    if args.load_fractions is not None:
        given["load_fractions"] = parse_percentages(args.load_fractions, "load-fractions")
    if args.slo_p99 is not None:
        given["slo_p99_us"] = (
            "auto"
            if args.slo_p99.strip().lower() == "auto"
            else parse_duration_us(args.slo_p99, "slo-p99")
        )
    if args.remeasure_budget is not None:
        given["remeasure_budget"] = _seconds(args.remeasure_budget, "remeasure-budget", 0.0)
    if args.probe_duration is not None:
        given["probe_duration"] = _seconds(args.probe_duration, "probe-duration", 0.1)
    return given


def _seconds(value: float, name: str, minimum: float) -> float:
    """A ``--name SECONDS`` option's value, refused in one line below ``minimum``."""
    if not math.isfinite(value) or value < minimum:
        least = "0 or more" if minimum == 0 else f"at least {minimum:g}"
        raise UserError(f"--{name} must be {least} seconds, not {value:g}")
    return value


def _repeat(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--repeat takes a whole number or 'auto', not {text!r}") from None
    if value < 1:
        raise UserError(f"--repeat must be at least 1, not {value}")
    return value


def _auto(config: RunConfig, given: dict[str, Any]) -> None:
    """Complete ``config`` for ``--repeat auto``; refuse its options without it."""
    names = ("min_repeat", "max_repeat", "target_ci")
    if config["repeat"] != "auto":
        for name in names:
            if name in given:
                raise UserError(f"--{name.replace('_', '-')} goes with --repeat auto")
        return
    config["min_repeat"] = given.get("min_repeat", _autorepeat.MINIMUM)
    config["max_repeat"] = given.get("max_repeat", _autorepeat.MAXIMUM)
    config["target_ci"] = given.get("target_ci", _autorepeat.TARGET)
    if config["min_repeat"] < _autorepeat.MINIMUM:
        raise UserError(
            f"--min-repeat must be at least {_autorepeat.MINIMUM}: fewer repeats have no 95% "
            "confidence interval for a median"
        )
    if config["max_repeat"] < config["min_repeat"]:
        raise UserError(
            f"--max-repeat ({config['max_repeat']}) is below the minimum of "
            f"{config['min_repeat']} repeats (--min-repeat; no 95% interval for a median "
            f"exists below {_autorepeat.MINIMUM})"
        )


def parse_server_options(items: list[str]) -> dict[str, dict[str, str]]:
    """``["uvloop-multiprocess:workers=4"]`` -> ``{"uvloop-multiprocess": {"workers": "4"}}``."""
    options: dict[str, dict[str, str]] = {}
    for item in items:
        # The last colon before the '=': a BACKEND@MODULE:FACTORY name holds one too.
        head, equals, value = item.partition("=")
        name, colon, key = head.rpartition(":")
        if not (colon and equals and name and key):
            raise UserError(f"--server-option takes BACKEND:KEY=VALUE, not {item!r}")
        options.setdefault(name.strip(), {})[key.strip()] = value.strip()
    return options


def _remote(args: argparse.Namespace) -> tuple[str, int] | None:
    if args.cluster_certs is not None and args.cluster is None:
        raise UserError("--cluster-certs secures a --cluster; give one")
    if args.connect is None:
        if args.label is not None:
            raise UserError("--label names a --connect server; it needs --connect HOST:PORT")
        return None
    if not args.label:
        raise UserError("--connect needs --label NAME to name the server in the results")
    if "/" in args.label:
        raise UserError("--label cannot contain '/' (it is part of every case id)")
    try:
        host, port = parse_address(args.connect)
    except ValueError:
        raise UserError(f"--connect takes HOST:PORT, not {args.connect!r}") from None
    if not 0 < port < 65536:
        raise UserError(f"--connect: port {port} is out of range")
    return host, port


def _scenario(args: argparse.Namespace) -> _scenarios.Scenario:
    if args.quick and args.scenario not in (None, "quick"):
        raise UserError(f"--quick is --scenario quick; it cannot go with {args.scenario}")
    return _scenarios.get("quick" if args.quick else args.scenario or "default")


def _resolve(args: argparse.Namespace, given: dict[str, Any]) -> RunConfig:
    scenario = _scenario(args)
    for key in given:
        owners = [s.name for s in _scenarios.SCENARIOS.values() if key in s.own]
        if owners and key not in scenario.own:
            raise UserError(
                f"--{key.replace('_', '-')} applies to "
                + " or ".join(f"--scenario {name}" for name in owners)
            )
    # The scenario's table holds the config's keys; the options typed override them.
    config = cast(
        RunConfig,
        {
            key: given.get(key, value)
            for key, value in {**scenario.defaults, **scenario.own}.items()
        },
    )
    config["scenario"] = scenario.name
    config["seed"] = given.get("seed", secrets.randbelow(2**31))
    # A scenario may name its backends (those not available here are skipped, with why).
    config["backends"] = given.get("backends", scenario.defaults.get("backends"))
    config["verify"] = bool(args.verify)
    _auto(config, given)
    return config


def _backends(config: RunConfig, remote: bool) -> tuple[list[Runnable], list[dict[str, str]]]:
    """(name, family, transports) to run, and what was left out with the reason."""
    if remote:
        return [(str(config["label"]), "external", ("tcp", "tls"))], []
    from echobench.servers._registry import discover, get_backend

    skipped: list[dict[str, str]] = []
    if config["backends"] is None:
        chosen = list(discover())
    else:
        chosen = [get_backend(name) for name in config["backends"]]
    runnable = []
    for backend in chosen:
        reason = backend.unavailable_reason()
        if reason is None:
            runnable.append((backend.name, backend.family, backend.transports))
        else:
            skipped.append({"backend": backend.name, "transport": "*", "reason": reason})
    if not runnable:
        why = "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped) or "none found"
        raise UserError(f"no backend can run here ({why})")
    return runnable, skipped


def _readline_backends(config: RunConfig, runnable: list[Runnable], remote: bool) -> set[str]:
    """The runnable backends with vmbench's readline mode, when the run asks for it."""
    if not config.get("readline") or remote:
        return set()
    from echobench.servers._registry import get_backend

    return {name for name, _, _ in runnable if get_backend(name).readline}


def _default_out() -> Path:
    return Path("results") / time.strftime("run-%Y%m%d-%H%M%S.json")


@dataclass
class Plan:
    """What the run is: decided from the options (or the interrupted run's file) before
    anything starts."""

    config: RunConfig
    #: The interrupted run's document when resuming, else None (a new one is made).
    doc: dict[str, Any] | None
    out: Path
    #: The ``--connect`` server, else None (the runner starts each backend).
    remote: tuple[str, int] | None
    given: dict[str, Any]

    @property
    def scenario(self) -> _scenarios.Scenario:
        return _scenarios.get(str(self.config.get("scenario") or "default"))


@dataclass
class Placed:
    """Where the run's processes go, and what could not be arranged."""

    placement: _isolation.Placement
    per_backend: dict[str, _isolation.Placement]
    warnings: list[str]


def execute(args: argparse.Namespace) -> int:
    plan = _resume_or_start(args)
    _validate(plan)
    runnable, cases, skipped = _build_cases(plan)
    placed = _place(args, plan, [name for name, _, _ in runnable])
    return _run(args, plan, cases, skipped, placed)


def _resume_or_start(args: argparse.Namespace) -> Plan:
    """The interrupted run to go on with (``--resume``), its options checked against the
    ones typed; or a new run's configuration."""
    given = _given(args)
    remote = _remote(args)
    if remote is not None and "backends" in given:
        raise UserError("--connect measures one remote server; --backends does not apply")
    if args.resume is None:
        config = _resolve(args, given)
        config["connect"] = args.connect
        config["label"] = args.label
        config["cluster"] = args.cluster
        config["server_cpus"] = _cpu_option(args.server_cpus, "server-cpus")
        config["client_cpus"] = _cpu_option(args.client_cpus, "client-cpus")
        return Plan(config, None, Path(args.out) if args.out else _default_out(), remote, given)
    doc = load_results(args.resume)
    config = doc["config"]
    for key, value in given.items():
        if config.get(key) != value:
            raise UserError(
                f"--resume: --{key} differs from the interrupted run's "
                f"({config.get(key)!r}); leave it out to continue that run"
            )
    if (
        (config.get("connect") is None) != (remote is None)
        or (remote is not None and config.get("label") != args.label)
        or config.get("cluster") != args.cluster
    ):
        raise UserError("--resume: --connect/--label/--cluster differ from the interrupted run's")
    if (args.scenario or args.quick) and _scenario(args).name != config.get("scenario"):
        raise UserError("--resume: the scenario differs from the interrupted run's")
    if doc.get("complete"):
        raise UserError(f"--resume: {args.resume} is already complete")
    return Plan(config, doc, Path(args.out or args.resume), remote, given)


def _validate(plan: Plan) -> None:
    """Refuse options that do not go together (and settle what ``--connect`` implies)."""
    config = plan.config
    if plan.remote is not None:
        if config.get("transports") and "unix" in config["transports"]:
            raise UserError("--connect reaches a server over tcp or tls, not unix")
        if config.get("server_options"):
            raise UserError("--server-option configures servers the runner starts, not --connect")
        if plan.given.get("awake"):
            raise UserError("--awake keeps the CPUs of a server the runner starts, not --connect")
        config["verify"] = False
        config["awake"] = False
    if config["order"] not in ORDERS:
        raise UserError(f"unknown order {config['order']!r}")
    scenario = plan.scenario
    if scenario.runner is not None:
        if None in config["rates"]:
            raise UserError(
                f"--rate with --scenario {scenario.name} takes open-loop rates (the common "
                "absolute rates); its closed loop is the capacity probe"
            )
        if config["repeat"] == "auto" or config.get("idle"):
            raise UserError(
                f"--scenario {scenario.name} plans its own cases: --repeat auto and idle "
                "connections do not apply"
            )


def _build_cases(plan: Plan) -> tuple[list[Runnable], list[Case], list[dict[str, str]]]:
    """The backends that can run, the matrix's cases, and what was left out and why."""
    config, remote = plan.config, plan.remote is not None
    runnable, skipped = _backends(config, remote)
    if config["backends"] is None:
        config["backends"] = [name for name, _, _ in runnable]
    cases, skipped_transports = build_cases(
        runnable,
        transports=config["transports"],
        sizes=config["sizes"],
        connections=config["connections"],
        # A scenario with a runner of its own starts from one closed-loop probe per slice.
        rates=config["rates"] if plan.scenario.runner is None else [None],
        idle=config.get("idle") or [],
        readline=int(config.get("readline") or 0),
        readline_backends=_readline_backends(config, runnable, remote),
    )
    skipped += skipped_transports
    if not cases:
        raise UserError("the matrix is empty: no backend supports the chosen transports")
    check_fd_fit(cases, config["workers"], remote)
    return runnable, cases, skipped


def _place(args: argparse.Namespace, plan: Plan, backends: list[str]) -> Placed:
    """The server's and the client's CPUs (per backend where they differ); pins this
    process, the load client's parent, to the client's."""
    processes = _server_processes(plan.config, backends, plan.remote is not None)
    placement, per_backend = _placement(args, plan.doc, plan.config, processes)
    pinned = _isolation.pin_self(placement.client_cpus)
    warnings = list(
        dict.fromkeys(w for p in (placement, *per_backend.values()) for w in p.warnings)
    )
    if not pinned:
        warnings.append("could not pin the load client to CPUs (sched_setaffinity unavailable)")
    unawake = _awake.unavailable() if plan.config.get("awake") else None
    if unawake is not None:
        warnings.append(unawake)
    unshielded = _shield.unavailable() if plan.config.get("shield") else None
    if unshielded is not None:
        warnings.append(f"the load client's CPUs not shielded: {unshielded}")
    return Placed(placement, per_backend, warnings)


def _document(plan: Plan, placed: Placed, skipped: list[dict[str, str]]) -> dict[str, Any]:
    """The results document: the interrupted run's, noting this resumption, or a new one."""
    config, remote = plan.config, plan.remote is not None
    if plan.doc is not None:
        plan.doc["environment"].setdefault("resumed", []).append(
            {"at": _environment.now(), "command_line": list(sys.argv)}
        )
        return plan.doc
    pinning: dict[str, Any] = placed.placement.as_dict()
    if placed.per_backend:
        pinning["by_backend"] = {name: p.as_dict() for name, p in placed.per_backend.items()}
    environment = _environment.collect(
        command_line=sys.argv,
        pinning=pinning,
        placement_warnings=placed.warnings,
        extra_modules=_framework_modules(config["backends"] or [], remote),
        local_server=not remote,
    )
    environment["loops"] = _loops(config["backends"] or [], remote)
    return new_document(config, environment, skipped)


def _runner(
    args: argparse.Namespace, plan: Plan, cases: list[Case], placed: Placed, doc: dict[str, Any]
) -> Runner:
    config, out = plan.config, plan.out
    settings = MeasureSettings(
        duration=float(config["duration"]),
        warmup=float(config["warmup"]),
        workers=config["workers"],
        placement=placed.placement,
        connect=plan.remote,
        placements=placed.per_backend,
        server_options=config.get("server_options") or {},
        cluster=config.get("cluster"),
        cluster_certs=args.cluster_certs,
        hlog_dir=out.with_name(f"{out.stem}-hlog"),
        awake=_on_off_auto(config.get("awake")),
        shield=_on_off_auto(config.get("shield")),
        server_host=_server_host(args, plan.remote),
        interference=bool(config.get("interference", True)),
        max_interference=float(config.get("max_interference", _interference.DEFAULT_THRESHOLD_PCT)),
    )
    auto = None
    if config["repeat"] == "auto":
        auto = AutoRepeat(
            int(config["max_repeat"]),
            float(config["target_ci"]),
            int(config.get("min_repeat", _autorepeat.MINIMUM)),
        )
    return Runner(
        doc=doc,
        cases=cases,
        settings=settings,
        out=out,
        repeats=auto.maximum if auto else int(config["repeat"]),
        seed=int(config["seed"]),
        order=str(config["order"]),
        verify=bool(config["verify"]),
        auto=auto,
    )


def _server_host(args: argparse.Namespace, remote: tuple[str, int] | None) -> ServerHost | None:
    """The cluster's worker on the server's host, when ``--cluster`` has one: without
    ``--connect`` it is needed (it starts each backend there); with ``--connect`` it is
    used when it runs on that host, and the run goes on without it otherwise."""
    if args.cluster is None:
        return None
    try:
        found = ServerHost(args.cluster, args.cluster_certs)
    except NoServerWorker as exc:
        if remote is None:
            raise UserError(
                f"{exc}; or measure a server already running there with --connect HOST:PORT"
            ) from None
        return None
    if remote is not None and found.worker.host != remote[0]:
        print(
            f"echobench run: the cluster's server-host worker runs on {found.worker.host}, "
            f"not {remote[0]}: the server's CPU is not measured",
            file=sys.stderr,
        )
        found.close()
        return None
    return found


def _run(
    args: argparse.Namespace,
    plan: Plan,
    cases: list[Case],
    skipped: list[dict[str, str]],
    placed: Placed,
) -> int:
    """Write the file, measure every case (or the scenario's passes), report; the exit
    status. The cluster's server-host worker, if one was found, is let go at the end."""
    doc = _document(plan, placed, skipped)
    runner = _runner(args, plan, cases, placed, doc)
    try:
        quiet = _quiet_for(args, plan, placed)
        quiet.count_used(doc["cases"])
        if runner.settings.interference:  # --no-interference: nothing read, nothing waited
            runner.quiet = quiet
        interrupted, tables = _measure_all(plan, runner, cases, skipped, placed)
    finally:
        if runner.settings.server_host is not None:
            runner.settings.server_host.close()
    # The server's CPU is the runner's to see unless only the far end of --connect saw it.
    measured_remotely = plan.remote is not None and runner.settings.server_host is None
    print_report(doc, str(plan.out), measured_remotely, tables=tables)
    if runner.auto is not None:
        print(_autorepeat.summary([e.get("auto_repeat") for e in doc["cases"]]), file=sys.stderr)
    return _status(doc, plan.out, interrupted)


def _measure_all(
    plan: Plan, runner: Runner, cases: list[Case], skipped: list[dict[str, str]], placed: Placed
) -> tuple[int | None, list[Any]]:
    """Every case, or the scenario's own passes: the signal that interrupted it (or None)
    and the scenario's tables."""
    scenario, out, doc = plan.scenario, plan.out, runner.doc
    if scenario.runner is None:
        _announce(cases, plan.config, out, placed.placement, placed.per_backend, skipped)
    try:
        write_results(out, doc)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    if runner.quiet is not None:
        _check_host(doc, runner.quiet)
    write_results(out, doc)
    if scenario.runner is None:
        return runner.run(), []
    interrupted, tables = importlib.import_module(scenario.runner).run_scenario(runner, skipped)
    return interrupted, tables


def _quiet_for(args: argparse.Namespace, plan: Plan, placed: Placed) -> _quiet.Quiet:
    """How the run waits out a busy host: the threshold, retries and budget it was given,
    over the CPUs the run uses."""
    config = plan.config
    return _quiet.Quiet(
        threshold_pct=float(config.get("max_interference", _interference.DEFAULT_THRESHOLD_PCT)),
        retries=int(config.get("disturbed_retries", _quiet.RETRIES)),
        budget_s=float(config.get("quiet_timeout", _quiet.QUIET_TIMEOUT_S)),
        cpus=_run_cpus(
            placed.placement, placed.per_backend, plan.remote is not None, config.get("cluster")
        ),
        check_s=_host_check_seconds(args),
    )


def _status(doc: dict[str, Any], out: Path, interrupted: int | None) -> int:
    """0 when the run finished and measured something, 1 when nothing was, 128+signal
    when interrupted."""
    if interrupted is not None:
        print(
            f"interrupted: {len(doc['not_run'])} case(s) not run; continue with: "
            f"echobench run --resume {out}",
            file=sys.stderr,
        )
        return 128 + interrupted
    measured = [e for e in doc["cases"] if e["repeats"]]
    failed = [e for e in doc["cases"] if e["status"] != "ok"]
    if failed:
        print(
            f"{len(failed)} of {len(doc['cases'])} case(s) failed; see the table", file=sys.stderr
        )
    return 0 if measured else 1


#: Descriptors a server process needs besides its connections (listener, loop, stdio).
SERVER_FDS = 64


def check_fd_fit(cases: list[Case], workers: int | None, remote: bool) -> None:
    """Refuse, before anything starts, a connection count the fd limits cannot hold."""
    import resource

    from echobench.clients._config import connections_that_fit

    biggest = max(cases, key=lambda case: case.total_connections)
    client = connections_that_fit(workers or 1)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # A local server lifts its soft limit to this same hard limit.
    server = client if remote or hard == resource.RLIM_INFINITY else hard - SERVER_FDS
    fit = min(client, server)
    if biggest.total_connections > fit:
        side = "the load client" if client <= server else "the server"
        raise UserError(
            f"{biggest.id} needs {biggest.total_connections} connections but at most {fit} fit "
            f"under the fd limit of {side} (hard limit {hard}): lower --connections, add "
            "--workers (client side) or raise ulimit -Hn"
        )


def _host_check_seconds(args: argparse.Namespace) -> float:
    seconds = _quiet.HOST_CHECK_S if args.host_check is None else float(args.host_check)
    if not math.isfinite(seconds) or not 0 <= seconds <= 60:
        raise UserError(f"--host-check must be from 0 to 60 seconds, not {seconds:g}")
    return seconds


def _run_cpus(
    placement: Placement,
    per_backend: dict[str, Placement],
    remote: bool,
    cluster: str | None,
) -> list[int]:
    """The CPUs of this host the run's servers and load clients use (none when the load
    runs on a cluster: its servers then run elsewhere too)."""
    if cluster is not None:
        return []
    cpus: set[int] = set()
    for each in (placement, *per_backend.values()):
        cpus.update(each.client_cpus)
        if not remote:
            cpus.update(each.server_cpus)
    return sorted(cpus)


def _check_host(doc: dict[str, Any], quiet: _quiet.Quiet) -> None:
    """The host check before the first case, recorded in the environment (a resumed run
    records its own beside its resumption) with a warning when the host stayed busy.
    Settings a killed run left changed are put back first: they are not this host's."""
    put_back = _journal.repair()
    if put_back:
        print(f"put back what a killed run left changed: {', '.join(put_back)}", file=sys.stderr)
    _beside_another(doc)
    if not quiet.cpus:
        return
    record = quiet.host_check(lambda: False, lambda line: print(line, file=sys.stderr))
    if put_back:
        record["put_back"] = put_back
    env = doc["environment"]
    resumed = env.get("resumed")
    (resumed[-1] if resumed else env)["host_check"] = record
    sentence = _quiet.host_warning(record)
    if sentence is not None:
        env["warnings"].append(sentence)


def _on_off_auto(value: object) -> bool | str:
    """A config's ``awake`` or ``shield`` as ``MeasureSettings`` takes it."""
    return "auto" if value == "auto" else bool(value)


def _beside_another(doc: dict[str, Any]) -> None:
    """A warning when another live run holds machine-wide settings (``_journal``)."""
    beside = _journal.others()
    if beside:
        said = (
            f"another run was measuring on this machine when this one started (pid "
            f"{', '.join(map(str, beside))}): each changes machine-wide settings and takes "
            "CPU from the other, so neither's numbers are clean"
        )
        print(f"warning: {said}", file=sys.stderr)
        doc["environment"]["warnings"].append(said)


def _cpu_option(text: str | None, what: str) -> list[int] | None:
    return _isolation.parse_cpu_list(text, what) if text else None


def _server_processes(config: RunConfig, names: list[str], remote: bool) -> dict[str, int | None]:
    """How many processes each backend serves with (its ``-o`` options from the run)."""
    options: dict[str, dict[str, str]] = config.get("server_options") or {}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise UserError(f"--server-option: {unknown[0]!r} is not a backend of this run")
    if remote:
        return {}
    from echobench.servers._registry import get_backend

    return {name: get_backend(name).processes(options.get(name, {})) for name in names}


def _placement(
    args: argparse.Namespace,
    doc: dict[str, Any] | None,
    config: RunConfig,
    processes: dict[str, int | None],
) -> tuple[_isolation.Placement, dict[str, _isolation.Placement]]:
    """The run's placement (a one-process server's) and the backends' that differ."""
    cpus = _isolation.usable_cpus()
    server = _cpu_option(args.server_cpus, "server-cpus") or config.get("server_cpus")
    client = _cpu_option(args.client_cpus, "client-cpus") or config.get("client_cpus")
    if doc is not None and "server_cpus" not in config and server is None and client is None:
        # A file from before per-backend placement: it ran everything on one placement.
        pinning = doc["environment"].get("pinning") or {}
        if set(pinning.get("client_cpus") or []) <= set(cpus):
            server = pinning.get("server_cpus") or None
            client = pinning.get("client_cpus") or None
    if config.get("connect") is not None:
        return _isolation.Placement((), tuple(client or cpus), ()), {}
    return _isolation.plan_run(cpus, server_cpus=server, client_cpus=client, processes=processes)


def _framework_modules(backends: list[str], remote: bool) -> list[str]:
    if remote:
        return []
    from echobench.servers._registry import get_backend

    modules = [m for name in backends for m in get_backend(name).requires]
    # A loop given as BACKEND@MODULE:FACTORY is required by no backend file.
    loops = _loops(backends, remote)
    return modules + [str(d["module"]) for d in loops.values() if d["package"] != "python"]


def _loops(backends: list[str], remote: bool) -> dict[str, dict[str, str | None]]:
    """The asyncio loop each backend runs on: its spec, module, package and version."""
    if remote:
        return {}
    from echobench.servers._aio import describe_loop
    from echobench.servers._registry import get_backend

    loops = {}
    for name in backends:
        loop = get_backend(name).loop
        if loop is not None:
            loops[name] = describe_loop(loop)
    return loops


def _announce(
    cases: list[Case],
    config: RunConfig,
    out: Path,
    placement: _isolation.Placement,
    per_backend: dict[str, _isolation.Placement],
    skipped: list[dict[str, str]],
) -> None:
    per_repeat = float(config["duration"]) + float(config["warmup"]) + OVERHEAD_SECONDS
    connecting = sum(case.total_connections for case in cases) / CONNECTS_PER_SECOND
    per_round = len(cases) * per_repeat + connecting
    if config["repeat"] == "auto":
        fewest = int(config.get("min_repeat", _autorepeat.MINIMUM))
        most = int(config["max_repeat"])
        repeats = (
            f"{fewest} to {most} repeats (auto: until the 95% CI of each median is within "
            f"+-{float(config['target_ci']) * 100:g}%)"
        )
        estimate = f"{fewest * per_round / 60:.1f} to "
    else:
        fewest = most = int(config["repeat"])
        repeats = f"{most} repeat(s)"
        estimate = ""
    estimate += f"{most * per_round / 60:.1f} min"
    lines = [
        f"echobench run: {len(cases)} case(s) x {repeats}, about {estimate}; "
        f"seed {config['seed']}; writing {out}",
        f"pinning: server on CPUs {list(placement.server_cpus) or '-'}, "
        f"client on CPUs {list(placement.client_cpus)}",
    ]
    lines += [
        f"pinning {name}: server on CPUs {list(p.server_cpus)}, client on CPUs "
        f"{list(p.client_cpus)}"
        for name, p in per_backend.items()
    ]
    if config.get("cluster"):
        lines.append(f"load: from the Dask cluster at {config['cluster']}")
    lines += [f"skipped {s['backend']} ({s['transport']}): {s['reason']}" for s in skipped]
    print("\n".join(lines), file=sys.stderr, flush=True)
