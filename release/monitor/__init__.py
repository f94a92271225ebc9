"""Monitoring: reference profiles, drift tests, data quality on batches, golden signals."""
