"""numerics package (see README)."""
