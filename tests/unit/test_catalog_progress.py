"""The import's progress on standard error: only for large files, never spamming a log."""

from __future__ import annotations

import io

from entrypoints.cli_catalog import RowProgress


def test_a_log_gets_a_line_a_second_at_most_and_the_last_one_always() -> None:
    out = io.StringIO()
    bar = RowProgress(out, show=True, interval=3600)
    for done in (500, 1000, 1500, 2000):
        bar.show(done, 2000)
    lines = out.getvalue().splitlines()
    assert lines == [
        "checking rows: [#######.......................] 500/2,000",
        "checking rows: [##############################] 2,000/2,000",
    ]


def test_a_small_file_shows_nothing() -> None:
    out = io.StringIO()
    bar = RowProgress(out, show=False)
    bar.show(10, 10)
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_redrawn_in_place() -> None:
    out = Terminal()
    bar = RowProgress(out, show=True)
    bar.show(1, 2)
    bar.show(2, 2)
    assert out.getvalue().startswith("\rchecking rows: [###############")
    assert out.getvalue().endswith("2/2\n")
    assert out.getvalue().count("\n") == 1
