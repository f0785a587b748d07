"""Takes too long to read whole: a list of them reads each journal once, line by line (its
memory does not grow with the take), and again only what was written since; the web
page refuses to draw or export one past its limit rather than hold it in the daemon."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

from antiphon.daemon.record.takes import list_takes

HEADER = b'{"format":"antiphon-take-v1","started":"2026-12-07T10:00:00+00:00","pid":0}\n'
ROW = b'{"t":%d.5,"kind":"call","msg":[176,1,%d]}\n'


def long_take(folder: Path, take_id: str, rows: int) -> Path:
    (folder / take_id).mkdir(parents=True, mode=0o700)
    os.chmod(folder, 0o700)
    journal = folder / take_id / "journal.jsonl"
    journal.write_bytes(HEADER + b"".join(ROW % (n, n % 128) for n in range(rows)) +
                        b'{"t":1.0,"kind":"answer_start","due":1.5,"keeps":"C"}\n'
                        b'{"t":1.0,"kind":"settings","model":"folk"}\n')
    return journal


def test_a_list_reads_a_long_journal_in_little_memory_and_only_once(tmp_path):
    folder = tmp_path / "sessions"
    journal = long_take(folder, "2026-12-07_100000", 100_000)  # 4 MB of controls
    tracemalloc.start()
    try:
        [summary] = list_takes(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.seconds == 99_999.5 and summary.exchanges == 1
    assert summary.models == ("folk",)
    assert peak < journal.stat().st_size / 2  # never the whole journal, nor its events
    began = time.perf_counter()
    assert list_takes(folder) == [summary]
    assert time.perf_counter() - began < 0.05  # nothing new to read
    with journal.open("ab") as more:  # the take goes on: only the new rows are read
        more.write(b'{"t":200000.0,"kind":"answer_start","due":1.5,"keeps":"C"}\n'
                   b'{"t":200001.0,"kind":"settings","model":"bach"}\n{"t":3')
    [grown] = list_takes(folder)
    assert grown.seconds == 200001.0 and grown.exchanges == 2
    assert grown.models == ("folk", "bach")
    journal.write_bytes(HEADER)  # made anew (shorter): read from its start
    [again] = list_takes(folder)
    assert again.seconds == 0.0 and again.exchanges == 0 and again.models == ()
