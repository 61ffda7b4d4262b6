"""`python -m slca_min ...`: the command line (cli/)."""
import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
