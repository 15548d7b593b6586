"""autoroute service package."""
