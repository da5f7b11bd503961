"""hail: command line accepted as Ganeti's; the algorithm lands with its own issue."""

from __future__ import annotations

import sys

from htools.cli.common import die
from htools.cli.options import parse_or_exit


def main(argv: list[str] | None = None) -> None:
    parse_or_exit("hail", sys.argv[1:] if argv is None else argv)
    die("hail is not implemented yet")


if __name__ == "__main__":
    main()
