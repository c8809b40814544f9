"""Prometheus metrics from ringpop stats (needs ``ringpop[prometheus]``).

A stat key becomes a metric name (``ping.send`` -> ``ringpop_ping_send_total``,
``ping`` timing -> ``ringpop_ping_seconds`` histogram, ``num-members`` gauge ->
``ringpop_num_members``) and the node's address becomes the ``node`` label, so one
scrape target can serve several nodes of one process.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ringpop.stats.base import Kind

__all__ = ["PrometheusBackend", "metric_name"]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_TIMING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def metric_name(key: str) -> str:
    """``ping-req.send`` -> ``ringpop_ping_req_send``."""
    return "ringpop_" + _INVALID.sub("_", key)


class PrometheusBackend:
    """Keeps Prometheus counters, gauges and histograms; optionally serves them over HTTP.

    ``port`` starts prometheus-client's HTTP exporter on ``address:port`` (0 picks a
    free port; see :attr:`port`). Without a port, expose :attr:`registry` yourself.
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
        self._metrics: dict[tuple[Kind, str], Any] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.port: int | None = None
        if port is not None:
            server, _thread = prometheus_client.start_http_server(
                port, addr=address, registry=self.registry
            )
            self._server = server
            self.port = int(server.server_address[1])

    def _metric(self, kind: Kind, key: str) -> Any:
        metric = self._metrics.get((kind, key))
        if metric is not None:
            return metric
        with self._lock:
            metric = self._metrics.get((kind, key))
            if metric is None:
                name = metric_name(key)
                doc = f"ringpop stat {key}"
                client = self._client
                if kind is Kind.COUNTER:
                    metric = client.Counter(name, doc, ["node"], registry=self.registry)
                elif kind is Kind.GAUGE:
                    metric = client.Gauge(name, doc, ["node"], registry=self.registry)
                else:
                    metric = client.Histogram(
                        name + "_seconds",
                        doc,
                        ["node"],
                        registry=self.registry,
                        buckets=_TIMING_BUCKETS,
                    )
                self._metrics[(kind, key)] = metric
        return metric

    def emit(self, kind: Kind, key: str, value: float, node: str) -> None:
        metric = self._metric(kind, key).labels(node=node)
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
