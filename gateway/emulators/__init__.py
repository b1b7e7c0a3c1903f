"""Faithful stand-ins for the upstream stats services, for the offline demo and the tests.

Each emulator is a plain Starlette app built from deterministic synthetic data. It records every
request it receives (``RequestLog``) and can be told to misbehave (``Faults``), so tests can assert
exactly which upstream calls an operation made and how the gateway copes with failures.
"""
