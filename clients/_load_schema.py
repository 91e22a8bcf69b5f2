"""The JSON result of ``echobench load`` (``run_load``): schema ``echobench.load``, v2.

Other tools (the runner, charts, reports) read this; a change that removes or
renames a field, or changes its meaning, bumps ``SCHEMA_VERSION``. New fields
may be added without a bump.

Top level
    ``schema``           ``"echobench.load"``.
    ``schema_version``   ``2`` (v2 added ``connect``, ``fairness``, ``idle`` and
                         ``params.idle``, and made a window with no completed echo exit 2;
                         it also added ``client_pauses``, ``latency_intervals``,
                         ``client_rss_peak_bytes``, ``params.interval`` and ``params.hlog``
                         and removed ``latency_drains_in_window``, since samples are now
                         folded in as the run goes; a v1 file lacks the new fields and is
                         otherwise the same).
    ``params``           every parameter of the run, as given: ``host``, ``port`` (int or
                         null with ``unix``), ``unix`` (socket path or null), ``tls`` (bool),
                         ``connections``, ``size`` (bytes per message), ``duration`` and
                         ``warmup`` (nominal seconds), ``rate`` (total messages/s, null in
                         closed loop), ``idle`` (extra connections held open and silent,
                         0 without ``--idle``), ``pipeline`` (messages outstanding per connection in
                         closed loop), ``workers`` (client processes), ``verify`` (every
                         echoed byte compared), ``latency`` (latency recorded), ``interval``
                         (seconds per latency interval, ``--hlog-interval``), ``hlog`` (the
                         interval log's path or null), ``timeout``
                         (seconds without progress before a connection counts as timed out,
                         also the connect timeout), ``cpus`` (CPUs the workers were pinned
                         to, or null), ``readline`` (vmbench's readline mode: each message
                         is that many newline-terminated lines of ``size`` bytes; 0 for plain
                         bytes; absent in older files).
    ``mode``             ``"closed"`` (send the next message when the echo of one is
                         complete, ``pipeline`` outstanding) or ``"open"`` (``--rate``: a
                         fixed send schedule that ignores responses).
    ``started_at``, ``finished_at``
                         ISO-8601 UTC wall-clock times of the measured window's start and end.
    ``complete``         true when the measured window ran its full duration with every
                         connection alive; false for a run that was interrupted, or where the
                         server closed, reset or stalled a connection.
    ``stop_reason``      null when complete, else why not, in words.
    ``elapsed_s``        length of the measured window in seconds: the difference of two clock
                         readings taken when the window opened (after warmup; connection set-up
                         is before that) and when it closed; the divisor of every rate below.
    ``messages``         echoes completed inside the window (all connections, all workers).
    ``bytes``            ``messages * size`` (``* readline`` in readline mode).
    ``messages_per_second``, ``mib_per_second``
                         ``messages / elapsed_s`` and ``bytes / 2**20 / elapsed_s`` (echoed
                         payload, one direction).
    ``latency_us``       null when latency was not recorded or nothing completed, else
                         ``p50``, ``p90``, ``p99``, ``p999``, ``max``, ``mean``, ``min``,
                         ``stdev`` (microseconds, float) and ``count`` (samples), read from the
                         merged histogram. Closed loop: from the actual send to the end of
                         the echo. Open loop: from the message's *scheduled* send time
                         (coordinated-omission correction, as wrk2), so a stalled server
                         shows up in the tail; and every message the window ended without
                         (sent and not yet echoed, or due and not yet sent) is recorded at
                         its age when the window closed, a lower bound of its latency, so
                         ``count`` is ``messages`` plus ``rate.in_flight_at_close`` plus
                         ``rate.unsent_at_close``.
    ``latency_out_of_range``
                         samples that fell outside the histogram's range (counted here,
                         not in the histogram).
    ``latency_intervals``
                         null without latency, else ``interval_s``
                         (``params.interval``: the length of one latency interval),
                         ``count`` (intervals, the last one cut short by the window's end),
                         ``samples`` (their total count: ``latency_us.count`` unless a worker
                         sent no result; with ``--cluster``, a shard lost mid-run leaves
                         what it had sent in the log but nothing in the result),
                         ``max_cpu_us`` (the parent's longest CPU time on
                         one interval: merging, logging, progress; on a CPU it may share
                         with a worker, whose schedule it delays), ``in_window_max_cpu_us``
                         (the same over the intervals it handled while the window was open:
                         0 for an open loop recorded whole, whose intervals come after it)
                         and ``hlog``: the
                         HdrHistogram interval log
                         (``params.hlog``, ``--hlog``) or null. The log is the standard
                         format (``hdrh.log.HistogramLogWriter``): ``#[StartTime: ...]`` and
                         ``#[BaseTime: ...]`` (the window's opening, seconds since the epoch),
                         then one line per interval: start (seconds after the base), length
                         (s), the interval's max (ms) and its histogram (ns, the same
                         geometry as ``histogram``). The intervals add up exactly to
                         ``histogram``. Open loop, a sample belongs to the interval in which
                         its echo was recorded; closed loop, to the one in which its echo
                         completed (by its own clock reading).
    ``client_pauses``    the client's own pauses inside the window, measured in every run.
                         An open loop whose window holds at most ``RAW_BUDGET`` samples a
                         worker is *recorded whole* (``deferred``: true): in the window the
                         worker only moves its raw samples aside every 100 ms, and counts
                         them once the window has closed (``counted_after_ms``: how long
                         that took, the longest over workers). A closed loop, or a run past
                         the budget, is counted as it goes (``echobench.clients._recorder``),
                         in steps run between I/O callbacks. Either way: ``folds`` (steps in
                         the window: a move or copy of the raw samples, a read of up to 64
                         closed-loop connections, the count of up to ``fold_slice``
                         samples, or the close of an interval), ``max_fold_us`` (the longest
                         step by the wall clock, preemption by other processes included),
                         ``max_fold_cpu_us`` (the longest step's CPU time, what the step
                         itself costs), ``max_fold_samples`` (most samples counted in one
                         step; 0 when recorded whole), ``fold_cpu_share`` (all steps' CPU
                         over the window's length, summed over workers: the share of its
                         time the client spent counting rather than serving sockets).
                         All null without latency. The garbage collector: ``gc_frozen``
                         (true: ``gc.freeze()`` when the window opens, so a collection
                         only walks what the window allocated), ``gc_disabled`` (true: off
                         through a window recorded whole, whose allocations are bounded),
                         ``gc_collections`` (per generation, summed over workers) and
                         ``gc_max_pause_us`` (the longest, timed with ``gc.callbacks``).
                         ``parent_max_us``: the parent's longest CPU time on one latency
                         interval while the window was open (``latency_intervals``'s
                         ``in_window_max_cpu_us``; it shares a CPU with a worker); absent
                         with ``--cluster``.
                         The host under the client (``echobench.clients._memory``):
                         ``major_faults`` (pages read back from disk in the window, summed
                         over workers: each a stall of the client's own),
                         ``preempted`` (involuntary context switches in the window: how
                         often other work took the client's CPU), ``memory_locked`` (every
                         worker's memory locked as touched, ``mlockall``; false unless
                         root or an unlimited ``RLIMIT_MEMLOCK``), ``huge_pages_off``
                         (transparent huge pages off in every worker),
                         ``memory_not_held`` (why not, in words; null when both held),
                         ``nice`` (the workers' nice value, the highest if they differ:
                         ``--nice`` raises it over other tasks on their CPUs,
                         ``echobench.clients._priority``) and ``nice_not_set`` (why a
                         worker could not take the one asked for; null when all did).
    ``latency_dependence``
                         null unless an open loop was recorded whole; else how dependent
                         its consecutive latencies were, from every worker's samples in the
                         order recorded (``echobench.clients._dependence``): ``samples``,
                         ``spearman_z`` (Lancet's check: the rank correlation of each
                         latency with the next, as a z; the largest over workers),
                         ``independent`` (every worker's z under 3), ``lag`` (the shortest
                         of Lancet's lags, 1 to 1,000 samples, at which the correlation
                         died away; null beyond), ``batches`` and ``batch_samples`` (the
                         batch means below: batches over all workers, the shortest batch),
                         ``design_effect`` (per ``p50``, ``p99``, ``p999``: the variance of
                         the batches' shares at or under the percentile against the
                         binomial variance, at least 1; null without enough batches): what
                         a percentile's confidence interval may assume.
    ``client_rss_peak_bytes``
                         the sum over the client's workers of their peak resident memory
                         (``ru_maxrss``, whole life: connecting, the window, the final
                         merge); it does not grow with the run's length.
    ``histogram``        null when latency is off, else the merged HDR histogram of latencies:
                         ``unit`` ``"ns"``, ``lowest`` ``1``, ``highest`` (ns),
                         ``significant_figures`` ``3``, ``encoding`` ``"hdrhistogram"`` and
                         ``data``, the string from ``hdrh.histogram.HdrHistogram.encode()``;
                         re-merge with ``HdrHistogram(1, highest, 3).decode_and_add(data)``.
    ``errors``           counts over the whole run (warmup included), by kind: ``connect``
                         (a connection that could not be opened),
                         ``reset`` (reset or broken pipe), ``eof`` (server closed a connection
                         early), ``timeout`` (no progress for ``timeout`` seconds with echoes
                         outstanding), ``mismatch`` (messages whose echo differs from what was
                         sent), ``other`` (any other socket error).
    ``error_total``      the sum of ``errors``.
    ``corrupted_bytes``  echoed bytes that differed from the bytes sent (whole run), plus
                         bytes echoed that were never sent.
    ``corrupted``        ``corrupted_bytes > 0`` or ``errors.mismatch > 0``.
    ``per_second``       messages completed in each whole second of the measured window
                         (summed over workers); a trailing partial second is left out.
    ``series``           the same at a finer grain, for short runs: ``interval_s`` (``0.1``)
                         and ``counts``, messages completed in each whole ``interval_s`` of
                         the measured window (summed over workers; a trailing partial
                         interval is left out, so ``sum(counts)`` is ``messages`` less under
                         one interval's worth). A run stopped early has fewer counts.
    ``rate``             null in closed loop, else ``target`` (messages/s asked for),
                         ``achieved`` (``messages_per_second``), ``met`` (the echoes completed
                         at 99.5% of the target or more, each worker's over its own window),
                         ``late_messages`` (messages sent at least 64, 128, 256 ... µs
                         behind their schedule, each as late as it was due before the send
                         that took it, by that threshold in µs; the unsent at the close
                         counted at their age; summed over workers), ``in_flight_at_close``
                         (messages sent and not yet echoed when the window closed),
                         ``unsent_at_close`` (messages due and not yet sent
                         then: the client was behind), ``max_send_lag_us`` (how far the
                         client's actual sends fell behind the schedule inside the window,
                         the last message of a burst included; large values mean the
                         client, not the server, could not keep up) and
                         ``max_send_lag_per_second_us`` (the same for each whole second of
                         the window, the largest over workers) with
                         ``max_send_lag_per_second_at_ns`` (the CLOCK_MONOTONIC reading
                         that found each, 0 for a second without lag: where to look in a
                         kernel trace); ``lag_events`` (every lag of at least 250 µs as
                         ``[read at ns, lag µs]``, CLOCK_MONOTONIC, up to 1,000 a worker)
                         and ``lag_events_dropped`` (those past that many).
    ``client_cpu``       CPU time of the client's worker processes during the window:
                         ``user_s``, ``system_s``, ``seconds`` (their sum) and ``cores_used``
                         (``seconds / elapsed_s``), ``pids`` (the worker processes).
    ``connect``          opening every connection (active and idle), before the warmup:
                         ``connections`` (opened), ``seconds`` (from the first attempt of any
                         worker to the last connection open), ``per_second`` (``connections /
                         seconds``; null if too fast to time), ``failed`` (attempts that failed,
                         retried or not) and ``retries`` (attempts retried after a timeout, a
                         reset or EAGAIN; up to 3 attempts per connection, 128 in flight per
                         worker). A connection that fails every attempt stops the run (exit 2).
                         ``syn_retransmits``: handshake segments the kernel sent again before
                         the connections opened (``tcpi_total_retrans`` read as each opens;
                         a server whose accept queue was full dropped the SYNs; 0 on Unix
                         sockets); a retransmitted SYN costs a second or more of set-up.
    ``fairness``         how the window's echoes were shared among the active connections
                         (from each connection's count of completed messages in the window):
                         ``jain`` (Jain's index, ``(sum x)^2 / (n sum x^2)``: 1.0 perfectly
                         even, ``k/n`` when k of n shared everything; null when nothing
                         completed), ``min``, ``median`` and ``max`` (messages per connection)
                         and ``starved`` (connections that completed none). Null when no
                         worker reported.
    ``idle``             null without ``--idle``, else ``requested``, ``held`` (still open at
                         the end of the window and echoed a short probe, sent only then, within
                         ``timeout``), ``dropped`` (``requested - held``) and ``closed`` (of
                         the dropped, those the server closed or reset; the others stayed open
                         but did not echo in time, e.g. a thread per connection that cannot
                         wake 10,000 threads within the timeout); all but ``requested`` are
                         null when the run stopped early and nothing was checked. A dropped
                         idle connection is a result, not an error.

With ``--cluster`` (``echobench.clients._cluster``) the result also has ``params.cluster`` (the
scheduler's address; ``params.workers`` is then the number of shards), and:

    ``cluster``          ``scheduler`` (address), ``workers`` (worker processes in the
                         cluster), ``shards`` (how many took part: one per worker process,
                         at most one per connection), ``lost`` (indices of the shards that
                         returned nothing), ``hosts`` (distinct machines among the shards that
                         reported, told apart by their monotonic clocks: the boot and the
                         time namespace), ``client_capacity`` (cores the reporting shards could
                         use: on each host, its shards or the CPUs their workers may run on,
                         whichever is fewer), ``start_spread_us`` (largest ``start_offset_us``), and
                         ``clock_uncertainty_us`` (0 when every shard ran on one machine, whose
                         monotonic clock they share; else half the largest round trip to the
                         scheduler, the error bound of Dask's clock-offset estimates), and
                         ``warnings`` (sentences: Dask workers that ran with its default
                         housekeeping, which takes CPU beside the load), and
                         ``network_limited`` (the shards whose ``link.limited`` is true).
    ``shards``           one entry per shard: ``shard`` (index; it owns connections
                         ``shard, shard + shards, ...``), ``worker`` (Dask worker address),
                         ``host`` (the scheduler's view of the worker's host), ``hostname``,
                         ``connections``, ``messages``, ``messages_per_second`` (over its own
                         window), ``client_cpu`` (``user_s``, ``system_s``, ``seconds``,
                         ``cores_used``), ``start_offset_us`` (when its measured window opened,
                         after the earliest shard's, on the scheduler's clock), ``latency_us``
                         and ``histogram`` (as at the top level, for this shard alone),
                         ``complete``, ``stop_reason``, ``clock_shift_ns`` (what was added to
                         its monotonic clock's readings to put them on the scheduler's
                         clock: its host's offset from monotonic to wall time plus Dask's
                         estimate of that host's offset from the scheduler; one per host),
                         ``link`` (``echobench.clients._link``: the interface its traffic
                         to the server left by, from the start signal to its result:
                         ``interface``, ``speed_mbit`` (null: unknown), ``qdisc`` (the root
                         queue's kind), ``seconds``, ``out_mbit_per_s``, ``in_mbit_per_s``,
                         ``packets_out``, ``held_back`` (times the queue delayed or dropped
                         a packet: overlimits, requeues, drops; one packet may count more
                         than once), ``held_back_share`` (per packet sent) and ``limited``:
                         a share of 0.01 or more, or 90% of the speed either way; null
                         where unreadable), ``lost`` (true: its worker died or it
                         failed; every figure above is then null) and ``error`` (why it was
                         lost). The top-level figures are these shards merged exactly as local
                         workers are: counts summed, histograms merged with HDR's
                         ``decode_and_add``, the window spanning the shards' windows (on the
                         scheduler's clock, so ``started_at``/``finished_at`` are too).

Additional fields (may grow): ``cpu_us_per_message`` (client CPU microseconds per
completed message, null without messages), ``sent`` (messages sent in the window),
``connections_lost`` (connections that ended early), ``loop`` (``"uvloop"`` or
``"asyncio"``).

Exit statuses of ``echobench load``: 0 a complete run without errors; 1 the run
finished but was incomplete or had errors (the partial result is still reported
and written); 2 bad input, or nothing could be measured (refused connection,
fd limit), or nothing was measured: no echo completed in the window (the result is
still written; takes precedence over 1); 3 corrupted echoes (takes precedence over
all but an interruption); 130/143 interrupted by SIGINT/SIGTERM (the partial result
is still written).
"""

from __future__ import annotations

SCHEMA = "echobench.load"
SCHEMA_VERSION = 2
#: ``rate``'s instants of lags: they mean something only beside a kernel trace of the
#: same run (``echobench client-lag``), so a record kept without one leaves them out.
LAG_INSTANT_KEYS = ("max_send_lag_per_second_at_ns", "lag_events")

#: The ``series`` interval; a whole second, and every latency interval, is a whole number.
SERIES_INTERVAL_NS = 100_000_000

#: The kinds counted in ``errors``, in report order.
ERROR_KINDS = ("connect", "reset", "eof", "timeout", "mismatch", "other")

#: Histogram range: 1 ns to one hour, three significant figures.
HIST_LOWEST_NS = 1
HIST_HIGHEST_NS = 3_600 * 1_000_000_000
HIST_SIGNIFICANT_FIGURES = 3

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_CORRUPTED = 3
