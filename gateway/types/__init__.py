"""Strawberry types of the public schema: shapes and thin field methods, no HTTP."""
