"""Binary float8[] and int8[] results straight into numpy arrays.

Aggregating a column into one array per group on the server and loading it with these
loaders moves rows without a Python object per value: the way ticks leave the store
(tickflow.store.day_ticks). Arrays must hold no NULL (coalesce them in SQL, e.g. to
'NaN'::float8): a NULL element has no value bytes and breaks the fixed stride."""

from __future__ import annotations

import struct

import numpy as np
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

FLOAT8_ARRAY_OID, INT8_ARRAY_OID = 1022, 1016  # pg_type oids of float8[] and int8[]


class Float8ArrayLoader(Loader):
    """One-dimensional float8[] in binary: header, then (int32 length, value) pairs."""

    format = Format.BINARY
    dtype = np.dtype([("len", ">i4"), ("v", ">f8")])

    def load(self, data: Buffer) -> np.ndarray:
        buf = memoryview(data)
        native = self.dtype["v"].newbyteorder("=")
        if struct.unpack_from("!i", buf, 0)[0] == 0:  # ndim 0: an empty array
            return np.empty(0, dtype=native)
        n = struct.unpack_from("!i", buf, 12)[0]
        rec = np.frombuffer(buf, dtype=self.dtype, count=n, offset=20)
        if np.any(rec["len"] < 0):
            raise ValueError("unexpected NULL in an array loaded into numpy")
        return rec["v"].astype(native)


class Int8ArrayLoader(Float8ArrayLoader):
    dtype = np.dtype([("len", ">i4"), ("v", ">i8")])


def register_numpy_array_loaders(conn: psycopg.Connection) -> None:
    """Load float8[] and int8[] as numpy arrays on ``conn`` (binary cursors)."""
    conn.adapters.register_loader(FLOAT8_ARRAY_OID, Float8ArrayLoader)
    conn.adapters.register_loader(INT8_ARRAY_OID, Int8ArrayLoader)
