"""The results file that ``echobench run`` writes: one JSON object per run.

``schema_version`` changes whenever a field changes meaning or is removed; readers
(charts, report, compare) call :func:`load_results`, which reads every version in
``READABLE_VERSIONS`` and refuses others.
Fields may be added without a version change. Times are ISO 8601 in UTC.

Top level
    ``schema``          always ``"echobench.run"``.
    ``schema_version``  ``2``. Version 2 added the concurrency fields: ``config.idle``,
                        ``config.scenario``, ``cases[].idle``, the repeat fields from
                        ``connect_seconds`` to ``server_accepted_all`` and the summary
                        fields from ``server_rss_per_connection_bytes`` to
                        ``idle_dropped``; and a case whose window completed no echo is
                        failed. It also judges an open-loop repeat's client by its send
                        lag, not its CPU (``verdict``), and adds the open-loop and latency
                        sweep fields (``open_loop``, ``overloaded``, ``latency`` ...).
                        Version 1 files lack those fields and are read as they are.
    ``complete``        ``true`` once every case of the matrix ran every repeat (even if
                        some failed); ``false`` for a run that was interrupted.
    ``environment``     the machine and the conditions (below).
    ``config``          the matrix and the measurement settings (below).
    ``cases``           one entry per case of the matrix that has started (below).
    ``not_run``         ids of the cases that still lack a repeat (``[]`` when complete).
    ``verification``    ``{backend: {"passed", "seconds", "checks": [{"name", "passed",
                        "seconds", "detail", "known"?}], "error", "known_failures"}}``: the
                        conformance gate run once per backend before it is measured; absent
                        for backends not verified (``--no-verify``, ``--connect``). A check
                        the backend declares a known failure of its framework carries
                        ``known`` (why) when it fails, is listed in ``known_failures``, and
                        does not stop the measurement (``passed`` stays true).
    ``skipped``         ``[{"backend", "transport", "reason"}]``: combinations left out of
                        the matrix because a backend lacks a transport or cannot run here.
    ``latency``         only in a ``--scenario latency`` run: the sweep's plan and summary
                        (below).

``environment``
    ``python``          ``{"version", "implementation", "executable"}`` of the runner.
    ``frameworks``      ``{distribution name: version or null}`` for every framework the
                        backends use (null: not installed).
    ``loops``           ``{backend: {"spec", "module", "package", "version"}}`` for each
                        backend on an asyncio loop (``MODULE:FACTORY``; ``BACKEND@MODULE:
                        FACTORY`` among them): the loop it ran on and that loop's version.
    ``os``              ``{"system", "release", "kernel"}`` (``platform``).
    ``cpu``             ``{"model", "count"}``.
    ``governor``        the CPU frequency governor (``"a, b"`` when CPUs differ), or null
                        where unreadable.
    ``turbo``           ``true``/``false`` when readable (intel_pstate or cpufreq boost),
                        else null.
    ``isolated_cpus``   the kernel's ``isolcpus`` list as ints, ``[]`` when none, null
                        where unreadable.
    ``vm``              ``true`` in a virtual machine or container hypervisor, ``false``
                        on bare metal, null when unknown.
    ``damon``           the kernel's DAMON monitors that were running (``[]`` when none):
                        ``[{"pid", "sample_ms", "aggregation_ms", "actions"}]``; its
                        kdamond thread takes a CPU for up to milliseconds at a time.
                        Absent from files before it.
    ``load_average``    ``[1m, 5m, 15m]`` when the run started.
    ``host_check``      the host measured before the first case with nothing of ours
                        running (``_hostcheck``, ``_quiet``): ``{"seconds", "steal_pct"
                        and "other_work_pct" ({cpu: percent}), "threshold_pct", "quiet",
                        "busy" (what was over the threshold, in words), "wakeup_us" ({cpu:
                        {"p50", "p99", "max", "samples"}}: how late a 1-5 ms sleep ended),
                        "wakeup_wait_us" ({cpu: mean run-queue wait of a wake-up}), "said"
                        (one line), "waited" (null, or the wait for a quiet host: {"quiet",
                        "waited_s", "probes", "waited_for", "last", "said"})}``, or
                        ``{"skipped": why}``. A resumed run's is in its ``resumed`` entry.
                        Absent from files before it: their busy note came from
                        ``load_average``. ``"put_back"``, where present: the settings a
                        killed run had left changed, put back before the check
                        (``_journal``).
    ``command_line``    the runner's ``argv``.
    ``git``             ``{"commit", "dirty"}`` of the suite's checkout (nulls outside git).
    ``started_at``, ``finished_at``  ISO times; ``finished_at`` is updated on every write.
    ``pinning``         ``{"server_cpus": [...], "client_cpus": [...]}``: the CPUs the
                        server and the load client (and the runner) were pinned to; both
                        are the same list when the machine has a single CPU. A one-process
                        server gets one CPU and the client every other one
                        (``_isolation``); ``by_backend`` (present only when some
                        backend differs) maps a backend that serves from several processes
                        to its own ``{"server_cpus", "client_cpus"}``: a CPU per process.
    ``warnings``        plain sentences about what could not be tuned or may skew numbers
                        (a VM, a governor other than ``performance``, turbo on, no isolated
                        CPUs, a shared CPU, a host the check found busy; older files: a
                        high load average).

``config``
    ``backends``, ``sizes`` (bytes per message), ``connections``, ``rates`` (null is a
    closed loop; a number is an open loop at that many messages per second in total),
    ``transports`` (``tcp``/``unix``/``tls``), ``duration`` and ``warmup`` (seconds per
    repeat), ``repeat`` (a number, or ``"auto"``: ``--repeat auto``, added without a
    version change; readers must accept the string), ``min_repeat``, ``max_repeat``
    and ``target_ci`` (only with ``"auto"``: the fewest and the most repeats a case gets,
    and the relative half-width of the 95% interval of its median at which it stops;
    ``_autorepeat``; a file without ``min_repeat`` used 6),
    ``workers`` (load client processes; null: one per client CPU, at most one per
    connection; the count each repeat used is in its ``placement``),
    ``seed`` (of the per-repeat shuffle), ``order`` (``"shuffle"``: each repeat walks the
    cases in a fresh order drawn from ``seed``; ``"fixed"``: matrix order), ``verify``,
    ``connect`` (``"host:port"`` for a remote server, else null), ``label``,
    ``idle`` (``[[active, idle], ...]``: cases of ``active`` busy connections while
    ``idle`` more are held open and silent, run after the plain ``connections``),
    ``scenario`` (the named matrix the run started from: ``default``, ``quick``,
    ``scale`` ...; ``_scenarios``), ``cluster`` (the Dask scheduler the load
    ran from with ``--cluster``, else null), ``server_options`` (``{backend: {key:
    value}}``: ``-o`` options given to servers), ``server_cpus``/``client_cpus`` (CPUs
    asked for with ``--server-cpus``/``--client-cpus``, else null). Files written before
    the last four lack them. ``interference`` (false: ``--no-interference``, nothing read),
    ``max_interference`` (percent: steal or run delay over it
    makes a repeat disturbed), ``disturbed_retries`` (re-measures per case) and
    ``quiet_timeout`` (seconds the run may wait for a quiet host) are ``_quiet``'s; files
    without them measured no interference. ``awake`` (``--awake``: keep the server's CPUs
    from idling: true, false, or ``"auto"``, every scenario's default since it was added
    without a version change: for closed loops at one connection and open loops only
    (``_measure.awake_for``); false with ``--connect``; files before ``"auto"`` kept it
    true for ``latency`` only, and a file without it ran with it off). ``shield``
    (``--shield``: keep the rest of the machine off the load client's CPUs for each
    repeat, ``_shield``: true, false, or ``"auto"``: open-loop cases only; absent: off).
    ``readline``
    (``--readline LINES``: the backends with vmbench's readline mode are also measured in
    it, each message LINES lines; 0 or absent: off).
    A ``latency`` run adds ``load_fractions`` (of each backend's
    capacity, 1.0 = 100%), ``slo_p99_us`` (the p99 target) and ``probe_duration`` (seconds
    of the capacity probe); its ``rates`` are the common absolute rates given with
    ``--rate`` (``[]``: taken from the slowest backend).

``cases[]``
    ``id``              ``backend/transport/<size>B/<connections>c[+<idle>idle]/<closed |
                        <rate>rps>[/readline<lines>]``.
    ``backend``, ``family``, ``transport``, ``size``, ``connections``, ``rate``, ``mode``
                        (``"closed"`` or ``"open"``), ``idle`` (extra silent connections,
                        0 for most cases), ``readline`` (vmbench's readline mode: each
                        message that many lines of ``size`` bytes, read by the server with
                        ``readline()``; 0, or absent in older files, for plain bytes).
    ``status``          ``"ok"``: every repeat measured (with ``--repeat auto``: stopped at
                        the target or the cap); ``"failed"``: none was; ``"partial"``:
                        some were, others failed or have not run yet.
    ``error``           why the last failed attempt failed (null when none failed).
    ``stderr_tail``     the tail of the server's stderr for that failure, if any.
    ``failures``        ``[{"repeat", "error", "stderr_tail"}]``, every failed attempt.
    ``auto_repeat``     only with ``--repeat auto``, once the case has stopped: ``{"stop":
                        "target" | "cap" | "failed", "metric" ("messages_per_second", or
                        "p99_us" for an open loop), "repeats", "relative_ci" (half-width of
                        the median's 95% interval over the median; null: none yet),
                        "target", "detail" (the reason in words)}``. A case without it has
                        not finished and is in ``not_run``.
    ``repeats``         the measured repeats, in the order they ran:
        ``repeat``              0-based repeat index.
        ``attempt``             0, or how many times this repeat had been measured before,
                                disturbed (the earlier records are kept, before it).
        ``started_at``          ISO time.
        ``server_address``      what the server printed in READY (or the ``--connect`` target).
        ``primed``              true when the runner started the server and echoed one
                                64-byte message on a throwaway connection before the
                                measured load (``_prime`` says why).
        ``messages_per_second``, ``p99_us``  copied from ``load`` for convenience.
        ``server_cpu``          ``{"user_s", "system_s", "seconds" (user + system),
                                "window_s", "cores_used" (seconds / window_s),
                                "window_source", "capacity", "utilization"}`` over the
                                server's whole process tree (it may fork workers), taken
                                over exactly the load's measured window (its
                                ``started_at``..``finished_at``, interpolated between
                                100 ms samples: ``window_source`` ``"client-window"``), or,
                                when the samples do not cover it, over the busiest window
                                as long as it (``"busiest-window"``); ``capacity`` is how many
                                cores it can use (its pinned CPUs, at most one per process,
                                since Python processes are bound by one core);
                                ``utilization`` = ``cores_used / capacity``; null with
                                ``--connect`` unless a cluster's server-host worker measured
                                it (``server_host``).
        ``server_rss_peak_bytes``  sum of the peak RSS (``VmHWM``) of the server's processes,
                                or the highest sampled RSS where ``/proc`` is unreadable;
                                null with ``--connect`` (as ``server_cpu``).
        ``server_host``         null unless the server ran on (or was found by) the cluster's
                                worker on the server's host (``_serverhost``): ``{"worker",
                                "host", "hostname", "started" (false: found on the --connect
                                port), "clock_offset_s" (Dask's estimate of that host's clock
                                behind the scheduler's, applied to the load's window),
                                "interference"}``, the last the ``_interference`` record of
                                the server's CPUs over the load's window (side ``server``), or
                                null when the samples did not span it. Added without a version
                                change.
        ``placement``           ``{"server_cpus", "client_cpus", "server_processes",
                                "load_workers", "cluster", "awake_cpus"}``: where this repeat
                                ran (null CPUs: remote server or cluster client), the server's
                                process count as sampled, the load's worker processes (shards
                                with a cluster), and the server CPUs kept from halting while
                                it ran (``config.awake``, ``_awake``; ``[]`` when off, remote,
                                or not possible here), and ``awake_how``: how: ``"haltpoll:
                                ..."`` where idle vCPUs polled before halting, else how an
                                idle-priority busy loop's scheduling group was made idle
                                (``"cgroup cpu.idle"``, ``"autogroup nice 19"``, or that it
                                could not be, with why the guest could not poll), null when
                                off. Absent from files written before them (it was off).
                                ``kernel_quieted``: the kernel settings changed for the
                                repeat and put back after (``_shield.quiet_kernel``), name
                                -> ``[before, during]``: ``{}`` where nothing needed to or
                                could be (not root). Absent from files written before it.
                                ``shield``, where ``--shield`` shielded the client's CPUs
                                for the repeat: ``{"cpus", "threads" (how many moved off),
                                "irqs" (how many steered off), "workqueues", "warning"}``.
        ``client_cpu``          the load client's own ``client_cpu`` plus ``capacity`` and
                                ``utilization`` computed like the server's: one core per load
                                worker on its pinned CPUs, or with a cluster the load's
                                ``cluster.client_capacity``.
        ``verdict``             the bottleneck (``_verdict``): ``"server"`` when the
                                server's CPU was saturated and the client's was not,
                                ``"client"`` when the client's was and the server's was not,
                                ``"both"`` when both were (the msgs/s is then limited by the
                                client too: only a lower bound for the server), else
                                ``"network"`` when a cluster's client link held packets back
                                (the load's ``cluster.network_limited``: the number is the
                                link's), else ``"neither"``. ``"both"`` and ``"network"``
                                were added without a version change:
                                readers must accept it (older files call such repeats
                                ``"server"``). In an open loop the client side is
                                ``open_loop.client_behind``, not its CPU: the open-loop client
                                polls its schedule and keeps its core busy at any rate.
        ``open_loop``           null in a closed loop, else ``{"target", "achieved" (msgs/s),
                                "met" (the load's: at least 99.5% of the target),
                                "max_send_lag_us", "max_pause_us" (the client's longest
                                own pause: a recorder step, a collection, its parent's
                                interval work; ``load.client_pauses``), "late_messages" and
                                "messages" (the load's), "lag_limit_us" (the larger of 1%
                                of the measured window and half the repeat's p99),
                                "client_behind" (the larger of max_send_lag_us and
                                max_pause_us > lag_limit_us: the client fell behind its
                                schedule by enough to have made the p99;
                                ``_verdict.behind_schedule``)}``; "max_pause_us",
                                "late_messages" and "messages" were added without a version
                                change.
        ``connect_seconds``, ``connect_per_second``  from ``load.connect``: how long opening
                                every connection took, and the rate.
        ``jain``, ``starved``   from ``load.fairness``: Jain's index of the messages each
                                connection completed in the window, and how many completed
                                none (a result, not a failure; the table marks it).
        ``idle_dropped``, ``idle_closed``  from ``load.idle``: idle connections not held to
                                the end, and of those the ones the server closed (null
                                without idle connections).
        ``server_rss_before_bytes``  the server tree's RSS after priming, before the load
                                client connected; absent with ``--connect`` or ``--cluster``.
        ``server_rss_connected_bytes``  the same once every connection was open and idle
                                and the RSS had settled, before the load started
                                (``_footprint``).
        ``server_rss_per_connection_bytes``  their difference divided by the connections
                                (active and idle); page-granular, so meaningful from about
                                100 connections up.
        ``server_accepted_all`` whether the server's tree held a descriptor for every
                                connection when that reading was taken (false: it had not
                                accepted them within a second plus a second per 1,000).
        ``load``                the load generator's whole JSON result (schema
                                ``echobench.load``), unchanged.
        ``hlog``                the repeat's HdrHistogram interval log (latency per second,
                                ``echobench load --hlog``), a path relative to the results
                                file's folder: ``<results stem>-hlog/<case id, / as
                                _>.r<repeat>.hlog``. Added without a version change; absent
                                in older files and when no log was written. A repeat
                                measured again has ``.a<attempt>`` before ``.hlog``.
        ``interference``        what the host took over the repeat's measured window
                                (``_interference``, read at its edges by ``_edges``):
                                ``{"steal_pct": {"server", "client"}, "run_delay_pct":
                                {"server", "client"}`` (percent of each side's CPU time;
                                a side not on this host is absent, a figure the host cannot
                                give is null), ``"disturbed"`` (either figure on either side
                                over ``threshold_pct``), ``"threshold_pct"``, ``"window_s"``,
                                ``"reasons"`` (what was over it, in words), ``"detail"``
                                (per side: ``wait_pct``, the threads' run-queue wait,
                                ``others_pct``, other tasks' CPU time on those CPUs, of
                                which the run delay is the smaller; ``softirq_thread_pct``,
                                the CPUs' ``ksoftirqd`` run time, counted as ours;
                                ``threads``),
                                ``"notes"`` (what could not be read), ``"read_ms"`` (what the
                                two readings took, outside the window)``}``; after a disturbed
                                repeat, ``quiet_wait`` (the wait for a quiet host, as in
                                ``host_check.waited``) or ``not_remeasured`` (why it was
                                not measured again). ``{"disturbed": false, "unmeasured":
                                why}`` when it could not be read (a cluster's load).
    ``summary``         over the clean repeats, or over every repeat when none is clean
                        (null while there are none):
        ``messages_per_second``  ``{"median", "min", "max", "cv"}`` (cv: sample standard
                                deviation / mean; 0 for one repeat).
        ``p99_us``              ``{"median", "min", "max"}`` (nulls without latencies).
        ``unstable``            ``cv > 0.05``.
        ``disturbed``           some repeat's last attempt was disturbed: fewer clean repeats
                                than asked, and where none is clean the numbers are the
                                disturbed ones'. Not to be compared; tables mark it.
        ``disturbed_repeats``   disturbed repeats in the file, left out of the summary.
        ``clean_repeats``       the repeats the summary is made of (when not disturbed).
        ``verdict``             the most common repeat verdict (ties: both, client, server,
                                neither: a tie never hides a saturated client).
        ``client_bound``        ``verdict`` is ``"client"`` or ``"both"``: the numbers measure
                                the load client, not (only) the server. In an open loop: the
                                client fell behind its schedule, whatever the server did.
        ``overloaded``          an open-loop case whose target rate was not met in most
                                repeats (a tie counts as overloaded); false in a closed loop.
                                Its latency is still recorded: it counts from the scheduled
                                send times, so it shows the queue that built up.
        ``achieved_share``      median of achieved / target (null in a closed loop).
        ``max_send_lag_us``     the largest send lag of the repeats (null in a closed loop).
        ``messages_per_server_cpu_second``  the median over repeats of msgs/s divided by
                                the server's ``cores_used``: messages per CPU-second of
                                server work (null with ``--connect``).
        ``server_rss_per_connection_bytes``, ``connect_per_second``, ``jain``, ``starved``
                                medians over the repeats that have them (null when none).
        ``idle_dropped``        the most idle connections dropped in any repeat (null
                                without idle connections).

``latency`` (``_sweep``, ``_sweepplan``, ``_sweepsummary``, ``_quantiles``)
    ``slo_p99_us``      the p99 target in µs: ``--slo-p99``, or with ``--slo-p99 auto`` the
                        one set from the floor (null until the floor's half-load point is
                        measured); ``slo_auto_requested`` says which, and ``slo_auto`` is
                        null or ``{"factor" (4), "floor_case", "floor_fraction",
                        "floor_p99_us", "floor_p99_ci_us", "p99_us"}``.
    ``slo_rule``        ``"first-crossing"``.
    ``load_fractions``, ``probe_duration``  as in ``config``; ``probe_ci`` (0.05): the
                        share of its median within which a probe's interval must lie.
    ``common_fractions``  fractions of the slowest backend's base rate that give the
                        common rates when ``--rate`` is not given.
    ``floor_backend``   ``"native"``; ``floor``: per slice ``{"transport", "size",
                        "connections", "reason"}``, ``reason`` null when the slice has a
                        floor (its ``native`` sweep), else why not (``--connect``, no
                        compiler, a transport native does not serve).
    ``phase``           ``"probe"``, ``"hold-check"``, ``"sweep"``, ``"remeasure"`` while
                        running, ``"done"``.
    ``common``          per slice ``{"transport", "size", "connections", "rates" (msgs/s),
                        "from_backend", "from_rate" (the slowest backend and the low end of
                        its probe's interval, as a share of its base rate; null when
                        given), "explicit" (given with --rate)}``.
    ``remeasure``       null until the sweep pass ends, else ``{"budget_s", "max_windows",
                        "rounds", "windows_added", "spent_s" (wall time, or the windows'
                        estimated cost if more), "stopped" ("decided", "max-windows",
                        "budget" or "interrupted"), "undecided" (the points still in doubt
                        that could move a capacity)}``.
    ``sweeps``          one per backend and slice:
        ``backend``, ``family``, ``transport``, ``size``, ``connections``.
        ``floor_only``          true for ``native`` measured only as the floor (not asked
                                for): drawn as the floor, never ranked.
        ``probe``               the id of its closed-loop capacity probe (a case above).
        ``capacity``            null when the probe failed, else ``{"case",
                                "messages_per_second" (C: the median of the per-second
                                throughputs of the probe's clean repeats, or of its 100 ms
                                ones for a probe under 2 s), "ci" ([low, high]: the
                                distribution-free 95% interval of that median from its
                                order statistics; null with fewer than 6 samples),
                                "within_target" (the interval lies within ``probe_ci`` of C
                                either side), "repeats", "samples", "sample" (their length),
                                "verdict", "client_bound" (C is the load client's: the
                                server's capacity is at least C)}``.
        ``hold_check``          with a client-bound C, the id of the open-loop case that
                                offered the top fraction of C first; else null.
        ``base``                ``{"messages_per_second", "low" (the same at the low end of
                                C's interval), "capped", "client_ceiling"}``: the rate the
                                fractions apply to: C, or, when the hold check's client fell
                                behind (``capped``), the rate it held (``client_ceiling``)
                                divided by the top fraction, so that the sweep stops at what
                                the open-loop client can hold.
        ``points``              the sweep's open-loop cases by rate: ``{"case", "rate",
                                "fraction" (of the base; null for a common rate only),
                                "share_of_base", "common", "hold_check", "stats"}``;
                                ``stats`` is null until measured, else the point over its
                                windows (repeats): ``windows`` (kept), ``windows_measured``,
                                ``disturbed_windows`` (the host's, ``_interference``),
                                ``client_windows`` (left out: 1% or more of their
                                messages left a quarter of the target or more late, or one of
                                the client's own pauses lasted that long), ``client_bound``
                                (no window left; the figures are then those of all),
                                ``client_lag_us`` (the largest lateness threshold over 1%
                                of a window's messages), ``max_send_lag_us``,
                                ``max_pause_us``, ``p50_us``, ``p99_us``, ``p999_us`` (from
                                the kept windows' histograms merged), ``p50_ci_us``,
                                ``p99_ci_us``, ``p999_ci_us`` (95% intervals ``[low, high]``,
                                high null when open upward; null when none can be given),
                                ``ci_method`` (per percentile: ``"order-statistics"``,
                                ``"batches"`` or ``"windows"``), ``overloaded`` (the rate was
                                not met in most kept windows), ``achieved_share``,
                                ``decision`` (``"meets"``, ``"fails"``, ``"undecided"`` or
                                ``"client-bound"`` against the target), ``floor_p99_ci_us``
                                (the floor's p99 interval at this rate, interpolated between
                                its rates; null outside them) and ``at_floor`` (the intervals
                                overlap; null when unknown).
        ``error``               why there is no sweep (the probe failed), else null.
        ``summary``             ``{"points", "measured", "overloaded", "client_bound",
                                "undecided", "at_floor", "slo_capacity"}``; ``slo_capacity``
                                is ``{"rule" ("first-crossing"), "p99_us" (the target),
                                "messages_per_second" (the load up to which every point met
                                the target: interpolated linearly in p99 between the last
                                point under the target and the first over it or overloaded,
                                within ``range``; points the client could have made are left
                                out; null when none), "range" ([the highest rate under which
                                every point surely met the target, the lowest that surely
                                failed it]; either null when there is none: open), "undecided"
                                (points in doubt within the range), "interpolated",
                                "at_least" (every point counted was under the target: a
                                lower bound), "client_bound" (the sweep could not go higher,
                                or the interpolation ran over points the client could have
                                made), "between" ([lower case id, higher case id or null]),
                                "reason" (why it is null)}``. Older files (before the first
                                crossing) lack ``rule``, ``range``, ``undecided`` and the
                                points' ``stats``, and took the highest passing point.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TypedDict

from echobench.servers._errors import UserError

SCHEMA = "echobench.run"
SCHEMA_VERSION = 2
#: Versions this echobench reads: version 1 lacks only fields that readers default.
READABLE_VERSIONS = (1, 2)


class RunConfig(TypedDict, total=False):
    """The file's ``config``, as the docstring above lists it: the matrix and the measurement
    settings, typed. Not every file has every key (older ones lack the newer keys; the
    latency scenario adds its own), so none is required."""

    backends: list[str] | None
    sizes: list[int]
    connections: list[int]
    idle: list[list[int]]
    rates: list[float | None]
    transports: list[str]
    duration: float
    warmup: float
    repeat: int | str
    min_repeat: int
    max_repeat: int
    target_ci: float
    workers: int | None
    seed: int
    order: str
    verify: bool
    connect: str | None
    label: str | None
    scenario: str
    cluster: str | None
    server_options: dict[str, dict[str, str]]
    server_cpus: list[int] | None
    client_cpus: list[int] | None
    awake: bool | str
    readline: int
    interference: bool
    max_interference: float
    disturbed_retries: int
    quiet_timeout: float
    load_fractions: list[float]
    slo_p99_us: float
    probe_duration: float


_TOP_LEVEL = ("complete", "environment", "config", "cases", "not_run")
_CASE_KEYS = ("id", "backend", "transport", "size", "connections", "mode", "status", "repeats")


def validate(doc: object, where: str = "results") -> dict[str, Any]:
    """Check the parts every reader relies on; raise ``UserError`` naming the first problem."""
    if not isinstance(doc, dict):
        raise UserError(f"{where}: not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise UserError(f"{where}: not an echobench run file (schema {doc.get('schema')!r})")
    version = doc.get("schema_version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise UserError(
            f"{where}: schema_version {version!r} is not supported (this echobench reads "
            f"versions {readable})"
        )
    for key in _TOP_LEVEL:
        if key not in doc:
            raise UserError(f"{where}: missing field {key!r}")
    if not isinstance(doc["cases"], list):
        raise UserError(f"{where}: 'cases' is not a list")
    for index, case in enumerate(doc["cases"]):
        if not isinstance(case, dict):
            raise UserError(f"{where}: cases[{index}] is not an object")
        for key in _CASE_KEYS:
            if key not in case:
                raise UserError(f"{where}: cases[{index}] lacks {key!r}")
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n"


def write_results(path: str | Path, doc: dict[str, Any]) -> None:
    """Write atomically: a reader (or a crash) only ever sees a whole file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(doc)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file; bad files raise ``UserError`` (one line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"no such results file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return validate(doc, str(path))


def emit_json(target: str, doc: dict[str, Any]) -> None:
    """``--json PATH``: the document to PATH, or to stdout for ``-``."""
    if target == "-":
        sys.stdout.write(dumps(doc))
        return
    try:
        write_results(target, doc)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}") from None
    print(f"wrote {target}", file=sys.stderr)
