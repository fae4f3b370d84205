"""Test helper: a tiny Prometheus exporter on loopback whose traffic the test sets (requests, errors, latency).

It serves ``/metrics`` in the Prometheus text format with the metric names the default gates query:
``http_requests_total{code="200"|"500"}`` (the request and error counters) and the histogram
``http_request_duration_seconds``. Traffic flows at the rates :meth:`TestExporter.set_traffic` sets: each scrape
adds what flowed since the last one, so ``rate()`` over the counters and the histogram sees exactly those rates.
"""

from __future__ import annotations

import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, math.inf)


class TestExporter:
    """Serves made-up HTTP traffic metrics; thread-safe; stop it with :meth:`stop`."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, requests_per_s: float = 200.0, error_ratio: float = 0.0, latency_s: float = 0.04) -> None:
        self._lock = threading.Lock()
        self._scraped = threading.Condition(self._lock)
        self._last = time.monotonic()
        self.ok = 0.0
        self.errors = 0.0
        self.buckets = [0.0] * len(BUCKETS)
        self.latency_sum = 0.0
        self.scrapes = 0
        self.requests_per_s, self.error_ratio, self.latency_s = requests_per_s, error_ratio, latency_s
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def set_traffic(self, *, requests_per_s: float | None = None, error_ratio: float | None = None,
                    latency_s: float | None = None) -> None:
        """Change the traffic from now on: requests per second, the share that fails (500), their latency."""
        with self._lock:
            self._advance()
            if requests_per_s is not None:
                self.requests_per_s = requests_per_s
            if error_ratio is not None:
                self.error_ratio = error_ratio
            if latency_s is not None:
                self.latency_s = latency_s

    def render(self) -> str:
        """The exposition text, with the traffic since the last call added."""
        with self._lock:
            self._advance()
            self.scrapes += 1
            self._scraped.notify_all()
            lines = [
                "# HELP http_requests_total HTTP requests served, by status code.",
                "# TYPE http_requests_total counter",
                f'http_requests_total{{code="200"}} {self.ok:.6f}',
                f'http_requests_total{{code="500"}} {self.errors:.6f}',
                "# HELP http_request_duration_seconds HTTP request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self.buckets):
                le = "+Inf" if math.isinf(bound) else f"{bound:g}"
                lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {count:.6f}')
            lines += [
                f"http_request_duration_seconds_sum {self.latency_sum:.6f}",
                f"http_request_duration_seconds_count {self.buckets[-1]:.6f}",
            ]
            return "\n".join(lines) + "\n"

    def wait_for_scrapes(self, count: int, timeout: float) -> bool:
        """Block until Prometheus has scraped ``count`` times in all (False after ``timeout`` seconds)."""
        with self._scraped:
            return self._scraped.wait_for(lambda: self.scrapes >= count, timeout)

    def wait_for_next_scrape(self, timeout: float) -> bool:
        """Block until the next scrape: the moment Prometheus can answer anything new."""
        with self._lock:
            target = self.scrapes + 1
        return self.wait_for_scrapes(target, timeout)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def _advance(self) -> None:
        now = time.monotonic()
        served = self.requests_per_s * (now - self._last)
        self._last = now
        self.errors += served * self.error_ratio
        self.ok += served * (1 - self.error_ratio)
        self.latency_sum += served * self.latency_s
        for i, bound in enumerate(BUCKETS):  # cumulative buckets: every bucket at or above the latency counts it
            if self.latency_s <= bound:
                self.buckets[i] += served
