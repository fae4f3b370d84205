"""Metric source clients (Prometheus, Datadog) feeding the gates. No Qt."""
