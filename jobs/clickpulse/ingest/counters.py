"""Counters and one latency histogram in the Prometheus text format, without a client library:
the collector needs a handful of numbers, all updated from one event loop."""

from __future__ import annotations

from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_HELP = {
    "clickpulse_collector_requests_total": ("counter", "HTTP requests by route and status code."),
    "clickpulse_collector_events_total": ("counter", "Events by outcome: accepted (acknowledged by Kafka), "
                                          "invalid (to the dead-letter topic), failed (Kafka did not acknowledge)."),
    "clickpulse_collector_dead_letters_total": ("counter", "Records written to the dead-letter topic."),
    "clickpulse_collector_kafka_errors_total": ("counter", "Kafka delivery or client errors."),
    "clickpulse_collector_request_bytes_total": ("counter", "Bytes of request bodies read."),
    "clickpulse_collector_kafka_up": ("gauge", "1 when the collector can reach Kafka, else 0."),
    "clickpulse_collector_request_duration_seconds": ("histogram", "Time to answer POST /collect."),
}


class Counters:
    def __init__(self) -> None:
        self.values: dict[tuple[str, tuple], float] = defaultdict(float)
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        self.values[(name, tuple(sorted(labels.items())))] += amount

    def set(self, name: str, value: float) -> None:
        self.values[(name, ())] = value

    def get(self, name: str, **labels: str) -> float:
        return self.values.get((name, tuple(sorted(labels.items()))), 0)

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
                break
        else:
            self.buckets[-1] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def render(self) -> str:
        lines: list[str] = []
        by_name: dict[str, list] = defaultdict(list)
        for (name, labels), v in sorted(self.values.items()):
            by_name[name].append((labels, v))
        for name, (kind, text) in _HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if kind == "histogram":
                cumulative = 0
                for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), self.buckets):
                    cumulative += n
                    lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
                lines += [f"{name}_sum {self.latency_sum:.6f}", f"{name}_count {self.latency_count}"]
                continue
            for labels, v in by_name.get(name, [((), 0)]):
                lab = ",".join(f'{k}="{val}"' for k, val in labels)
                lines.append(f"{name}{{{lab}}} {v:g}" if lab else f"{name} {v:g}")
        return "\n".join(lines) + "\n"
