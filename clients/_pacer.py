"""The open loop's send schedule: message k is due at ``base + k * step``, sent on time.

Two things call ``send_due``. A timer wakes the worker a millisecond before the next
message is due (uvloop rounds timer delays to whole milliseconds) and then polls
through the loop; and every echo that arrives calls it too, from the connection's
``data_received``, with the clock reading it already took for the latency. The
second is what keeps sends on time under load: uvloop serves every ready socket of
one poll before it runs a timer, so with only the timer a poll that found all 32
connections' echoes (350-650 µs of reads on a 2-core VM at 20k msgs/s) delayed the
sends due meanwhile, whose echoes then came back together and made the next poll
as long: the schedule broke into bursts that kept each other going.

At most ``SEND_BURST`` overdue messages go out per call; a client still behind after a
burst goes round the loop once (``call_soon``) before it sends more, so a schedule it
cannot keep never starves its sockets or its window's timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from time import monotonic_ns

import numpy as np

from echobench.clients._protocol import OpenLoopConnection

#: Sends at most this many overdue messages before the loop serves sockets.
SEND_BURST = 256
#: How long before a message is due the timer wakes the loop to poll for it.
EARLY_S = 0.001
#: ``late`` counts the messages sent at least each of these behind schedule [ns]: from
#: 64 µs in steps of a square root of 2 (to 8.4 s), so that whatever a quarter of a
#: target is, a threshold lies within that factor under it.
LATE_THRESHOLDS_NS = tuple(round(64_000 * 2 ** (j / 2)) for j in range(35))
LATE_FIRST_NS = LATE_THRESHOLDS_NS[0]
#: A send lag at least this long is kept with the clock reading that found it, up to
#: ``LAG_EVENTS_KEPT`` of them, so that a kernel trace can say what held the client
#: then; any shorter lag is shorter than this, whatever its cause.
LAG_EVENT_NS = 250_000
LAG_EVENTS_KEPT = 1000


class Pacer:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        conns: Sequence[OpenLoopConnection],
        base: int,
        step: float,
    ) -> None:
        self.loop = loop
        self.conns = list(conns)
        self.base = base
        self.step = step
        self.k = 0  # messages scheduled so far: the next one due is number k
        self.next_due = base
        self.sent = 0
        self.measuring = False
        self.max_lag = 0  # the largest send lag while measuring
        self.second_lag = 0  # the largest in the second under way (``take_second``)
        self.second_lag_at = 0  # when it was read (monotonic ns): where a trace looks
        self.lag_events: list[tuple[int, int]] = []  # (read at, lag) ns, each >= LAG_EVENT_NS
        self.lag_events_dropped = 0  # past LAG_EVENTS_KEPT
        #: While measuring: messages sent at least LATE_THRESHOLDS_NS[j] late, by j. What
        #: a percentile needs to know about the lag is how many messages it touched,
        #: which the largest lag alone does not say.
        self.late = [0] * len(LATE_THRESHOLDS_NS)
        self.stopped = False
        self.timer: asyncio.TimerHandle | None = None
        for conn in self.conns:
            conn.pacer = self

    def start(self) -> None:
        self._wake()

    def stop(self) -> None:
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def take_second(self) -> tuple[int, int]:
        """The largest send lag since the last call (a second's worth, from the worker)
        and the clock reading that found it (0 with no lag)."""
        lag, at = self.second_lag, self.second_lag_at
        self.second_lag = self.second_lag_at = 0
        return lag, at

    def send_due(self, now: int) -> None:
        """Send what is due at ``now`` (a clock reading just taken), up to a burst."""
        due = self.next_due
        if due > now or self.stopped:
            return
        first = self.k
        if self.measuring:
            lag = now - due
            if lag > self.max_lag:
                self.max_lag = lag
            if lag > self.second_lag:
                self.second_lag, self.second_lag_at = lag, now
            if lag >= LATE_FIRST_NS:
                self._count_late(now, first, first + SEND_BURST)
                if lag >= LAG_EVENT_NS:
                    self._keep(now, lag)
        conns = self.conns
        count = len(conns)
        base, step = self.base, self.step
        k = self.k
        last = k + SEND_BURST
        sent = 0
        while due <= now and k < last:
            conn = conns[k % count]
            if conn.alive:
                conn.send(due)
                sent += 1
            k += 1
            due = base + int(k * step)
        self.k = k
        self.next_due = due
        self.sent += sent
        if self.measuring and sent > 1:
            # The burst's last message left later than the first: its lag, read once.
            read = monotonic_ns()
            lag = read - (base + int((k - 1) * step))
            if lag > self.max_lag:
                self.max_lag = lag
            if lag > self.second_lag:
                self.second_lag, self.second_lag_at = lag, read
            if lag >= LAG_EVENT_NS:
                self._keep(read, lag)

    def _keep(self, at: int, lag: int) -> None:
        if len(self.lag_events) < LAG_EVENTS_KEPT:
            self.lag_events.append((at, lag))
        else:
            self.lag_events_dropped += 1

    def _count_late(self, now: int, first: int, end: int) -> None:
        """Count the messages first..end-1 due by ``now`` at each lateness step, each as
        late as it was due before ``now``."""
        for j, threshold in enumerate(LATE_THRESHOLDS_NS):
            last = min(end - 1, int((now - threshold - self.base) / self.step))
            if last < first:
                return
            self.late[j] += last - first + 1

    def count_unsent(self, now: int) -> None:
        """At the close: the messages due and never sent were late too."""
        if self.measuring and self.next_due <= now:
            self._count_late(now, self.k, 1 << 62)

    def late_counts(self) -> dict[str, int]:
        """``late`` by threshold in microseconds, as the result reports it."""
        return {str(t // 1000): n for t, n in zip(LATE_THRESHOLDS_NS, self.late, strict=True)}

    def _wake(self) -> None:
        self.timer = None
        if self.stopped:
            return
        self.send_due(monotonic_ns())
        now = monotonic_ns()
        if self.next_due <= now:
            # Still behind after a burst: go round the loop once first. A zero-delay timer
            # can run again within the same timer pass and, behind a schedule it never
            # catches up, starve sockets and the window's own timers.
            self.loop.call_soon(self._wake)
            return
        delay = max(0.0, (self.next_due - now) / 1e9 - EARLY_S)
        self.timer = self.loop.call_later(delay, self._wake)

    def overdue(self, now: int) -> np.ndarray:
        """The scheduled times (ns) of the messages due by ``now`` and not yet sent."""
        if self.next_due > now:
            return np.zeros(0, dtype=np.int64)
        last = int((now - self.base) / self.step)
        while self.base + int(last * self.step) > now:
            last -= 1  # the float division's rounding, either way
        while self.base + int((last + 1) * self.step) <= now:
            last += 1
        ks = np.arange(self.k, last + 1, dtype=np.float64)
        return self.base + (ks * self.step).astype(np.int64)
