"""Flag platforms: their API clients and the local evaluator that answers who has access."""
