"""Prometheus metrics from ringpop stats (needs ``ringpop[prometheus]``).

Stat keys become conventional metrics (see :mod:`ringpop.stats.catalog`):
``requestProxy.send.error`` -> ``ringpop_forwarded_requests_total{result="error"}``,
``ping`` timings -> the ``ringpop_ping_rtt_seconds`` histogram, ``num-members`` ->
``ringpop_members``. The node's address is the ``node`` label, so one scrape target
can serve several nodes of one process. Every catalogued series of a node exists
(at 0) from the node's start, not from its first event.
"""

from __future__ import annotations

import threading
from typing import Any

from ringpop.stats.base import Kind
from ringpop.stats.catalog import CATALOG, MetricSpec, lookup

__all__ = ["PrometheusBackend", "metric_name"]


def metric_name(key: str, kind: Kind = Kind.COUNTER) -> str:
    """The Prometheus metric name of stat ``key`` (``ping.send`` ->
    ``ringpop_pings_sent_total``)."""
    return lookup(key, kind)[0].name


class PrometheusBackend:
    """Keeps Prometheus counters, gauges and histograms; optionally serves them over HTTP.

    ``port`` starts prometheus-client's HTTP exporter on ``address:port`` (0 picks a
    free port; see :attr:`port`). Without a port, expose :attr:`registry` yourself,
    e.g. ``app.mount("/metrics", prometheus_client.make_asgi_app(backend.registry))``.
    """

    def __init__(
        self, *, port: int | None = None, address: str = "127.0.0.1", registry: Any = None
    ) -> None:
        try:
            import prometheus_client
        except ImportError as error:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "Prometheus metrics need prometheus-client: pip install 'ringpop[prometheus]'"
            ) from error
        self._client = prometheus_client
        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        self._nodes: set[str] = set()
        self._lock = threading.Lock()
        self._server: Any = None
        self.port: int | None = None
        if port is not None:
            try:
                server, _thread = prometheus_client.start_http_server(
                    port, addr=address, registry=self.registry
                )
            except OSError as error:
                raise OSError(
                    error.errno, f"Prometheus exporter on {address}:{port}: {error.strerror}"
                ) from None
            self._server = server
            self.port = int(server.server_address[1])

    def _metric(self, spec: MetricSpec) -> Any:
        metric = self._metrics.get(spec.name)
        if metric is not None:
            return metric
        with self._lock:
            metric = self._metrics.get(spec.name)
            if metric is None:
                client = self._client
                labels = ["node", *spec.labels]
                if spec.kind is Kind.COUNTER:
                    metric = client.Counter(spec.name, spec.help, labels, registry=self.registry)
                elif spec.kind is Kind.GAUGE:
                    metric = client.Gauge(spec.name, spec.help, labels, registry=self.registry)
                else:
                    metric = client.Histogram(
                        spec.name, spec.help, labels, registry=self.registry, buckets=spec.buckets
                    )
                self._metrics[spec.name] = metric
        return metric

    def attach(self, node: str) -> None:
        """Create every catalogued series of ``node`` (counters at 0), so they are
        exported before their first event. Called by :class:`~ringpop.stats.Stats`."""
        if node in self._nodes:
            return
        self._nodes.add(node)
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for spec, values in CATALOG.values():
            if spec.kind is Kind.GAUGE or (spec.name, values) in seen:
                continue  # a gauge at 0 would be a false reading
            seen.add((spec.name, values))
            self._metric(spec).labels(node, *values)

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        spec, values = lookup(key, kind)
        metric = self._metric(spec).labels(node, *values)
        if kind is Kind.COUNTER:
            metric.inc(value)
        elif kind is Kind.GAUGE:
            metric.set(value)
        else:
            metric.observe(value / 1000.0)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
