"""(package under construction)."""
