"""Small apps the benchmarks start as subprocesses."""
