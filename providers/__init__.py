"""autoroute providers package."""
