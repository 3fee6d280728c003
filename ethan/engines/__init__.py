"""Ways to run a batch beyond one process (each imports its heavy dependency lazily)."""
