"""`python -m demo [--date D] [--symbols N] [--seed S] [--feed simulated|local]`, from the repository root, with
DAGSTER_HOME set (what `tickflow demo` does)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from tickflow.cli import DEMO_DATE
from tickflow.config import load_settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    p.add_argument("--date", default=DEMO_DATE.isoformat())
    p.add_argument("--symbols", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--feed", choices=("simulated", "local"), default="simulated")
    args = p.parse_args(argv)
    from demo.run import run_demo  # after parsing: it loads the simulator and the kernels

    return run_demo(load_settings(), dt.date.fromisoformat(args.date), args.symbols, args.seed,
                    feed=args.feed)


if __name__ == "__main__":
    sys.exit(main())
