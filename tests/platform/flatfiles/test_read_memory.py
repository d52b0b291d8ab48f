"""The flat-file reader's memory is bounded by its block and batch sizes, not the file's:
Arrow's CSV reader runs up to 32 blocks ahead of a slow consumer, so the blocks are small
and the reader joins them into COPY-sized batches, each row once and in order."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from tickflow.flatfiles.read import iter_batches
from tickflow.simulate import to_flatfiles as vf


def test_reader_batches_are_joined_blocks_and_memory_stays_bounded(tmp_path: Path) -> None:
    n = 250_000
    ts = 1709821800000000000 + np.arange(n, dtype=np.int64) * 1000
    lines = [",".join(vf.TRADE_COLUMNS)]
    lines += [f'S{i % 50:03d},"12,37",0,11,{i},{t - 1000},{100 + i % 7}.25,{i},{t},{1 + i % 300},3,0,0'
              for i, t in enumerate(ts.tolist())]
    text = ("\n".join(lines) + "\n").encode()  # ~21 MiB of CSV
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(text, compresslevel=1))
    block, batch = 32 << 10, 512 << 10

    pool = pa.default_memory_pool()
    base = pool.bytes_allocated()
    peak = 0
    sizes, firsts, seqs = [], [], []
    with pa.input_stream(str(path), compression="gzip") as stream:
        for b in iter_batches(stream, "trades", block_size=block, batch_bytes=batch):
            time.sleep(0.02)  # a consumer slower than the reader, as a COPY is
            peak = max(peak, pool.bytes_allocated() - base)
            sizes.append(b.n)
            firsts.append(b.first_row)
            seqs.append(b.cols["sequence_number"])
            assert not b.bad
    assert sum(sizes) == n
    assert np.array_equal(np.concatenate(seqs), np.arange(n))  # every row once, in order
    assert firsts == np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    # joined: far fewer batches than the ~560 blocks
    assert 10 <= len(sizes) <= 60, sizes
    # Arrow's 32 blocks read ahead, plus a few batches in flight (two queued by the reader's
    # thread, one being joined, the consumer's; a converted batch's numeric columns are
    # views of Arrow buffers, ~2-3x its text) -- never the file's 21 MiB
    assert peak < 32 * block + 12 * batch, peak
