"""The only package that speaks HTTP to the upstream stats services."""
