"""Metric source clients (Prometheus, Datadog) feeding the gates, and the evaluation that stores what they said. No Qt.

What a go/no-go panel needs, in one place:

- ``evaluate.gate_results(session, rollout)``: every gate's outcome from stored samples, offline, with age
  (``GateResult.age(now)``, ``display_value()``, ``display_threshold()``, ``reason``).
- ``evaluate.measure_gates(rollout.gates, now=...)`` in a worker (with its own session: it only reads and asks
  the sources), then ``evaluate.record_measurements(session, rollout, measurements, now=...)`` on the GUI side:
  a fresh evaluation, stored and journaled. ``evaluate.evaluate_rollout`` does both at once (the CLI).
- ``evaluate.gate_history(session, gate, since=...)`` for a sparkline; ``evaluate.record_manual_value`` for a
  number someone types (ticket counts).
- ``launchdesk.planning.gates.go_blockers(results)``: the gates that make a go need an override;
  ``launchdesk.planning.decisions.record_decision`` records it; ``next_phase``, ``confirm_live``;
  ``launchdesk.planning.business_hours.phase_start_warning``.
"""
