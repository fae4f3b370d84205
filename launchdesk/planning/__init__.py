"""Pure planning functions: rollout templates, cohort rules, schedules. No Qt, no network."""
