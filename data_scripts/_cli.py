"""Shared by the data scripts: run a main() so that bad input exits 2 with one line, no traceback."""
import sys


def run(main) -> None:
    try:
        main()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        sys.exit(130)
