"""``tickflow import flatfiles``: a day's vendor flat file into the raw tables."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from tickflow.config import load_settings
from tickflow.flatfiles.source import KINDS


def cmd_import_flatfiles(args: argparse.Namespace) -> int:
    from tickflow.flatfiles.importer import import_day, repair_gaps

    settings = load_settings()
    day = dt.date.fromisoformat(args.date)
    out: dict[str, Any]
    try:
        if args.gaps_only:
            out = repair_gaps(settings, day, args.source).metadata()
        else:
            out = import_day(settings, day, args.kind, args.source).metadata()
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, default=str))
    return 0


def add_parser(sub: Any) -> None:
    imp = sub.add_parser("import", help="import history from outside Kafka")
    isub = imp.add_subparsers(dest="what", required=True)
    f = isub.add_parser("flatfiles", help="a day's vendor flat file (local path or s3://) into the raw tables")
    f.add_argument("--date", required=True, help="trading day, YYYY-MM-DD")
    f.add_argument("--kind", choices=KINDS, default="trades")
    f.add_argument("--source", default=None,
                   help="a .csv.gz file or a root laid out as <root>/<kind>_v1/YYYY/MM/DATE.csv.gz "
                        "(default TICKFLOW_FLATFILES_ROOT); s3:// uses TICKFLOW_S3_ENDPOINT and keys")
    f.add_argument("--gaps-only", action="store_true",
                   help="only fill the day's recorded feed gaps (all kinds they name) and mark them repaired")
    f.set_defaults(fn=cmd_import_flatfiles)
