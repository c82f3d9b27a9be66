"""Progress bars appear on a terminal and never in piped output."""

import io

from fer_edge import progress as progress_module
from fer_edge.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_gets_the_items_and_no_bar(monkeypatch):
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    assert list(progress(range(5), "counting")) == [0, 1, 2, 3, 4]
    assert piped.getvalue() == ""


def test_a_terminal_gets_a_bar_with_the_description(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert progress_module.on_terminal()
    assert list(progress(range(5), "counting faces")) == [0, 1, 2, 3, 4]
    assert "counting faces" in terminal.getvalue()
