"""``python -m mlip_gnn`` runs the command-line interface."""

import sys

from mlip_gnn.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
