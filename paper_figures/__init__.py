"""paper_figures package (see README)."""
