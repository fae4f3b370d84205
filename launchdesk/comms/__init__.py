"""Cohort communication: templating, audiences, the outbox and senders. No Qt."""
