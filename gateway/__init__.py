"""stats-gateway: one GraphQL API over the ERAS and Figshare stats services."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stats-gateway")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
