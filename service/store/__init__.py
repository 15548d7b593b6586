"""autoroute service/store package."""
