"""What ``peers.py`` prints: medians side by side, ratios, and the issue's targets, met or not."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from harness import median, mib
from peer_workloads import LoadFigures

PEERS = ("baseline", "tus-node", "tusmedia")
BIG_MODES = ("1 GiB one PATCH", "1 GiB 8 MiB PATCHes")
_TOOK = re.compile(r"took ([0-9.]+) seconds")


@dataclass
class Report:
    repeat: int
    start_rss: dict[str, int] = field(default_factory=dict)
    loads: dict[tuple[str, str], list[LoadFigures]] = field(default_factory=lambda: defaultdict(list))
    cpu_ms: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    big: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    peak_rss: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # CPU of the server's child processes per small upload, until its jobs were done (tusmedia's
    # embedded worker and processing children; the others have none).
    children_cpu_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    during_photos: list[tuple[LoadFigures, int]] = field(default_factory=list)
    slow_callbacks: list[str] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)

    def add(self, peer: str, workload: str, figures: LoadFigures, cpu_seconds_each: float) -> None:
        self.loads[peer, workload].append(figures)
        self.cpu_ms[peer, workload].append(cpu_seconds_each * 1000)

    def add_big(self, peer: str, mode: str, megabytes_per_second: float, peak_rss: int) -> None:
        self.big[peer, mode].append(megabytes_per_second)
        self.peak_rss[peer] = max(self.peak_rss[peer], peak_rss)

    def round_line(self, peer: str) -> str:
        small, resume = self.loads[peer, "small"][-1], self.loads[peer, "resume"][-1]
        big = " ".join(f"{self.big[peer, mode][-1]:.0f}" for mode in BIG_MODES)
        return (
            f"small {small.per_second:6.0f}/s p99 {small.p99_ms:6.1f} ms | resume {resume.per_second:6.0f} req/s "
            f"p99 {resume.p99_ms:6.1f} ms | 1 GiB {big} MB/s"
        )

    # --- figures ---------------------------------------------------------------------------------------------

    def load(self, peer: str, workload: str, figure: str) -> float:
        return median([getattr(figures, figure) for figures in self.loads[peer, workload]])

    def cpu(self, peer: str, workload: str) -> float:
        return median(self.cpu_ms[peer, workload])

    def big_rate(self, peer: str, mode: str) -> float:
        return median(self.big[peer, mode])

    def photos(self, figure: str) -> float:
        return median([getattr(figures, figure) for figures, _ in self.during_photos])

    # --- printing --------------------------------------------------------------------------------------------

    def print(self) -> None:
        rows: list[tuple[str, list[float], str, float | None]] = []

        def row(label: str, values: list[float], unit: str, ratio: float | None = None) -> None:
            rows.append((label, values, unit, ratio))

        def versus_node(values: list[float]) -> float:
            return values[2] / values[1]

        for workload, label in (("small", "64 KiB uploads"), ("resume", "HEAD+PATCH resume requests")):
            rates = [self.load(peer, workload, "per_second") for peer in PEERS]
            row(f"{label} per second", rates, "/s", versus_node(rates))
            row("  p50 per " + workload, [self.load(peer, workload, "p50_ms") for peer in PEERS], "ms")
            row("  p99 per " + workload, [self.load(peer, workload, "p99_ms") for peer in PEERS], "ms")
        row("server CPU per small upload", [self.cpu(peer, "small") for peer in PEERS], "ms")
        row("server CPU per resume request", [self.cpu(peer, "resume") for peer in PEERS], "ms")
        children = [median(self.children_cpu_ms[peer]) for peer in PEERS]
        row("its child processes' CPU per small upload", children, "ms")
        for mode in BIG_MODES:
            rates = [self.big_rate(peer, mode) for peer in PEERS]
            row(f"{mode}", rates, "MB/s", rates[2] / rates[0])
        row("server RSS before the first upload", [mib(self.start_rss[peer]) for peer in PEERS], "MiB")
        row("server peak RSS during the 1 GiB uploads", [mib(self.peak_rss[peer]) for peer in PEERS], "MiB")

        print()
        print(f"median of {self.repeat} interleaved rounds; MB = 10**6 bytes; ratio: tusmedia / tus-node, for")
        print("the big uploads tusmedia / baseline; peak RSS: highest of the rounds")
        header = f"{'':<42}{'baseline':>12}{'tus-node':>12}{'tusmedia':>12}{'ratio':>8}"
        print(header)
        print("-" * len(header))
        for label, values, unit, ratio in rows:
            cells = "".join(f"{_number(value):>12}" for value in values)
            print(f"{label:<42}{cells}{'' if ratio is None else f'{ratio:>7.2f}x'}  {unit}")

        print()
        unfinished = [jobs for _, jobs in self.during_photos]
        print(
            f"tusmedia, 200 small uploads while 20 photos of 12 MP are processed: "
            f"{self.photos('per_second'):.0f}/s, p50 {self.photos('p50_ms'):.1f} ms, "
            f"p99 {self.photos('p99_ms'):.1f} ms "
            f"(media jobs still unfinished when the last upload was answered: {unfinished})"
        )
        durations = sorted(float(match.group(1)) for line in self.slow_callbacks if (match := _TOOK.search(line)))
        print(
            f"tusmedia under asyncio debug mode: {len(self.slow_callbacks)} callbacks held the event loop longer "
            f"than 20 ms during the small, resume and photo workloads"
            + (f" (longest {durations[-1] * 1000:.0f} ms)" if durations else "")
        )
        print(f"  where the loop thread was when a watch thread caught it stalled ({len(self.stalls)} stalls):")
        for where, count in Counter(self.stalls).most_common(8):
            print(f"    {count:4d}x  {where[:150]}")
        self.print_targets()

    def print_targets(self) -> None:
        small, resume = "small", "resume"
        checks = [
            (
                "64 KiB uploads/s >= 2x tus-node",
                self.load("tusmedia", small, "per_second") >= 2 * self.load("tus-node", small, "per_second"),
            ),
            ("64 KiB upload p99 <= 50 ms", self.load("tusmedia", small, "p99_ms") <= 50),
            (
                "resume req/s >= 2x tus-node",
                self.load("tusmedia", resume, "per_second") >= 2 * self.load("tus-node", resume, "per_second"),
            ),
            ("resume p99 <= 30 ms", self.load("tusmedia", resume, "p99_ms") <= 30),
        ]
        checks += [
            (f"{mode} >= 0.9x baseline", self.big_rate("tusmedia", mode) >= 0.9 * self.big_rate("baseline", mode))
            for mode in BIG_MODES
        ]
        checks += [
            ("small-upload p99 while photos are processed <= 100 ms", self.photos("p99_ms") <= 100),
            ("server RSS <= 64 MiB during the big uploads", mib(self.peak_rss["tusmedia"]) <= 64),
            ("no callback held the loop longer than 20 ms", not self.slow_callbacks),
        ]
        print()
        print("targets:")
        for label, met in checks:
            print(f"  {'met   ' if met else 'MISSED'}  {label}")


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"
