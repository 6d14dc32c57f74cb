"""Runs the suite on one machine: a real nats-server and every service as its own process.

Used by `make run`, the end-to-end tests and the benchmarks, so all three start the suite the same way.
"""
