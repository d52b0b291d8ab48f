"""Binary float8[] and int8[] results straight into numpy arrays.

Aggregating a column into one array per group on the server and loading it with these
loaders moves rows without a Python object per value: the way bulk numeric reads leave the
store (ticks, feature matrices). Arrays must hold no NULL (coalesce them in SQL, e.g. to
'NaN'::float8): a NULL element has no value bytes and breaks the fixed stride."""

from __future__ import annotations

import struct

import numpy as np
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

FLOAT8_ARRAY_OID, INT8_ARRAY_OID, TIMESTAMPTZ_ARRAY_OID = 1022, 1016, 1185  # pg_type oids
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01


class Float8ArrayLoader(Loader):
    """float8[] in binary: ndim, flags, element oid, (size, lower bound) per dimension, then
    (int32 length, value) pairs in row-major order; any number of dimensions."""

    format = Format.BINARY
    dtype = np.dtype([("len", ">i4"), ("v", ">f8")])

    def load(self, data: Buffer) -> np.ndarray:
        buf = memoryview(data)
        native = self.dtype["v"].newbyteorder("=")
        ndim = struct.unpack_from("!i", buf, 0)[0]
        if ndim == 0:  # an empty array
            return np.empty(0, dtype=native)
        shape = tuple(struct.unpack_from("!i", buf, 12 + 8 * d)[0] for d in range(ndim))
        rec = np.frombuffer(buf, dtype=self.dtype, count=int(np.prod(shape)), offset=12 + 8 * ndim)
        if np.any(rec["len"] < 0):
            raise ValueError("unexpected NULL in an array loaded into numpy")
        return rec["v"].astype(native).reshape(shape)


class Int8ArrayLoader(Float8ArrayLoader):
    dtype = np.dtype([("len", ">i4"), ("v", ">i8")])


class TimestamptzArrayLoader(Int8ArrayLoader):
    """timestamptz[] (binary: int8 microseconds since 2000-01-01 UTC) as int64 ns since 1970."""

    def load(self, data: Buffer) -> np.ndarray:
        return (super().load(data) + _PG_EPOCH_US) * 1000


def register_numpy_array_loaders(conn: psycopg.Connection) -> None:
    """Load float8[], int8[] and timestamptz[] as numpy arrays on ``conn`` (binary cursors)."""
    conn.adapters.register_loader(FLOAT8_ARRAY_OID, Float8ArrayLoader)
    conn.adapters.register_loader(INT8_ARRAY_OID, Int8ArrayLoader)
    conn.adapters.register_loader(TIMESTAMPTZ_ARRAY_OID, TimestamptzArrayLoader)
