"""The import's progress on standard error: only for large files, never spamming a log."""

from __future__ import annotations

import io

from entrypoints.cli_catalog import StageProgress


def test_a_log_gets_a_line_a_second_at_most_and_the_last_one_always() -> None:
    out = io.StringIO()
    bar = StageProgress(out, show=True, interval=3600)
    for done in (500, 1000, 1500, 2000):
        bar.show("checking", done, 2000)
    bar.show("storing", 0, 1990)
    bar.show("storing", 1990, 1990)
    lines = out.getvalue().splitlines()
    assert lines == [
        "checking: [#######.......................] 500/2,000 rows",
        "checking: [##############################] 2,000/2,000 rows",
        "storing: [##############################] 1,990/1,990 changes",
    ]


def test_a_small_file_shows_nothing() -> None:
    out = io.StringIO()
    bar = StageProgress(out, show=False)
    bar.show("checking", 10, 10)
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_redrawn_in_place() -> None:
    out = Terminal()
    bar = StageProgress(out, show=True)
    bar.show("indexing", 1, 2)
    bar.show("indexing", 2, 2)
    assert out.getvalue().startswith("\rindexing: [###############")
    assert out.getvalue().endswith("2/2 products\n")
    assert out.getvalue().count("\n") == 1
