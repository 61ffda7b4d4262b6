"""Shared by the data scripts: run a main() so that bad input exits 2 with one line, no traceback."""
import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line naming it (exit 2), not argparse's usage block."""

    def error(self, message: str):
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def run(main) -> None:
    try:
        main()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        sys.exit(130)
