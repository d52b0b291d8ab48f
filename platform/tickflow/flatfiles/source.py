"""Where a day's flat file lives, and opening it as a byte stream (local or S3).

A source is a file (``.csv``/``.csv.gz``, local path or ``s3://bucket/key``) or a root
laid out as the vendor publishes it: ``<root>/<kind>_v1/YYYY/MM/YYYY-MM-DD.csv.gz``
(``s3://flatfiles/us_stocks_sip/trades_v1/2024/03/2024-03-07.csv.gz``). S3 goes through
pyarrow's own S3 filesystem with the endpoint, region and keys from
:class:`tickflow.config.Settings` (``TICKFLOW_S3_*``): no boto, and the file is streamed,
never downloaded whole."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from tickflow.config import Settings

KINDS = ("trades", "quotes", "minute_aggs")


@dataclass(frozen=True)
class FlatFile:
    fs: pafs.FileSystem
    path: str  # inside fs (bucket/key for S3)
    url: str  # for messages and metadata

    def open(self) -> pa.NativeFile:
        """A sequential stream of the decompressed CSV bytes (gzip by file name)."""
        compression = "gzip" if self.path.endswith(".gz") else None
        return self.fs.open_input_stream(self.path, compression=compression)


def s3_filesystem(settings: Settings) -> pafs.S3FileSystem:
    endpoint = urlparse(settings.s3_endpoint if "://" in settings.s3_endpoint else f"https://{settings.s3_endpoint}")
    kwargs: dict[str, object] = {"endpoint_override": endpoint.netloc, "scheme": endpoint.scheme or "https",
                                 "region": settings.s3_region}
    if settings.s3_access_key:
        kwargs.update(access_key=settings.s3_access_key, secret_key=settings.s3_secret_key)
    else:
        kwargs["anonymous"] = True
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]


def day_path(root: str, kind: str, day: dt.date) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown flat-file kind {kind!r} (one of {', '.join(KINDS)})")
    return f"{root.rstrip('/')}/{kind}_v1/{day:%Y}/{day:%m}/{day.isoformat()}.csv.gz"


def resolve(settings: Settings, day: dt.date, kind: str, source: str | None = None) -> FlatFile:
    """The flat file of ``kind`` for ``day`` from ``source`` (a file or a root; default the
    configured ``flatfiles_root``)."""
    src = source or settings.flatfiles_root
    url = src if src.endswith((".csv", ".csv.gz")) else day_path(src, kind, day)
    if url.startswith("s3://"):
        return FlatFile(s3_filesystem(settings), url[len("s3://"):], url)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"unsupported flat-file source {src!r}: a local path or an s3:// URL")
    path = os.path.abspath(url[len("file://"):] if url.startswith("file://") else url)
    return FlatFile(pafs.LocalFileSystem(), path, url)
