"""Benchmark study of leaveout's estimators (DESIGN.md §7): datasets, removal sets, reports."""
