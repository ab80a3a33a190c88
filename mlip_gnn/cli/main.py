"""``mlip-gnn``: one subcommand per module, found through :data:`SUBCOMMANDS`.

A subcommand module has ``HELP`` (one line), ``DESCRIPTION`` (shown by ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``. Adding one is a line in the registry.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from typing import Dict, List

from mlip_gnn.errors import MlipGnnError

__all__ = ["SUBCOMMANDS", "main", "build_parser", "user_errors"]

#: subcommand name → module (imported only when used, so ``--help`` stays fast)
SUBCOMMANDS: Dict[str, str] = {
    "train": "mlip_gnn.cli.train",
    "evaluate": "mlip_gnn.cli.evaluate",
    "export": "mlip_gnn.cli.export",
    "md": "mlip_gnn.cli.md",
    "validate": "mlip_gnn.cli.validate",
    "uncertainty": "mlip_gnn.cli.uncertainty",
    "preprocess": "mlip_gnn.cli.preprocess",
    "predict": "mlip_gnn.cli.predict",
    "active-learn": "mlip_gnn.cli.active_learn",
    "search": "mlip_gnn.cli.search",
}

EXIT_USER_ERROR = 2  # bad config, data, paths or checkpoints: fix the input and rerun
EXIT_FAILED = 1  # the run itself failed (e.g. diverged)


def user_errors() -> tuple:
    """Exception types reported as a message without a traceback; an
    :class:`~mlip_gnn.errors.MlipGnnError` exits with its ``exit_status``."""
    return (MlipGnnError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    """The ``mlip-gnn`` parser with one subcommand per command module."""
    parser = argparse.ArgumentParser(
        prog="mlip-gnn", description="Train, evaluate, export and run E(3)-equivariant "
        "message-passing interatomic potentials.")
    from mlip_gnn import __version__

    parser.add_argument("--version", action="version", version=f"mlip_gnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sp = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sp)
        sp.set_defaults(run=module.run)
    return parser


def _report(command: str, exc: BaseException) -> None:
    message = " ".join(str(exc).split())
    print(textwrap.fill(f"mlip-gnn {command}: error: {message}", width=100,
                        break_long_words=False, break_on_hyphens=False), file=sys.stderr)


def main(argv: List[str] | None = None) -> int:
    """Run the command of ``argv``; user errors print one message and give status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except user_errors() as exc:
        _report(args.command, exc)
        return getattr(exc, "exit_status", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print(f"mlip-gnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
