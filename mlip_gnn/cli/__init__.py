"""Command-line entry points (``mlip-gnn <subcommand>``)."""

from mlip_gnn.cli.main import SUBCOMMANDS, main

__all__ = ["main", "SUBCOMMANDS"]
