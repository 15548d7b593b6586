"""autoroute service/routes package."""
