"""autoroute bandit package."""
