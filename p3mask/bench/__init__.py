"""Benchmarks: commands that measure accuracy and speed and write their figures to a file."""
