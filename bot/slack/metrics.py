"""Prometheus metrics, one registry per app (nothing global), served on /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "runbook_slack_requests", "Slack requests received, by kind.", ["kind"], registry=r
        )
        self.ack_seconds = Histogram(
            "runbook_ack_seconds",
            "Time from request to acknowledgement.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "runbook_decisions", "Ledger entries appended for runs, by kind.", ["kind"], registry=r
        )
        self.hook_seconds = Histogram(
            "runbook_hook_seconds", "Hook run time.", ["hook", "outcome"], registry=r
        )
        self.posted = Counter(
            "runbook_outbox_posted", "Ledger entries posted to Slack threads.", registry=r
        )
        self.backlog = Gauge(
            "runbook_outbox_backlog", "Ledger entries of threaded runs not yet posted.", registry=r
        )
        self.deliveries = Gauge(
            "runbook_outbox_deliveries",
            "Runs whose thread is being brought up to date now (posts, then card redraws).",
            registry=r,
        )
        self.duplicate_events = Counter(
            "runbook_duplicate_events", "Events API retries dropped by event_id.", registry=r
        )
