"""checks package (see README)."""
