"""python -m slca_min.exercises [SOURCE] [--out RELEASE]: write the student version of the exercise notebooks."""
import argparse
import sys

from .release import release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slca_min.exercises", description=__doc__.split(": ", 1)[1])
    parser.add_argument("source", nargs="?", default="notebooks/exercises/source",
                        help="folder of the solution notebooks (default: %(default)s)")
    parser.add_argument("--out", default="notebooks/exercises/release", help="where the student version goes "
                        "(default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace notebooks under --out that differ from "
                        "the student version (by default the release refuses, so that no student's work is lost)")
    args = parser.parse_args(argv)
    try:
        for path, what in release(args.source, args.out, overwrite=args.overwrite):
            print(f"{what} {path}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
