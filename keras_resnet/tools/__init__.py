"""Command-line tools around the library: the throughput benchmark, checkpoint conversion."""
