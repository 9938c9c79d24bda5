"""`python -m bench --url URL`: the fan-out benchmark, then the check-in benchmark, each
with its defaults (what `make bench` runs). Each can also be run on its own with more
options: `python -m bench.fanout --help`, `python -m bench.checkin --help`."""

from __future__ import annotations

import argparse
import sys

from bench import checkin, fanout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--json", action="store_true", help="one JSON object per benchmark")
    args = p.parse_args(argv)
    common = ["--url", args.url, *(["--json"] if args.json else [])]
    status = 0
    for name, bench in (("fanout", fanout), ("checkin", checkin)):
        if not args.json:
            print(f"== {name} ==", flush=True)
        status = max(status, bench.main(common))
        if not args.json:
            print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
