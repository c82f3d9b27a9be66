"""Ctrl-C and `kill` stop a command even when TensorFlow swallows the first KeyboardInterrupt."""

import os
import signal
import threading

import pytest

from fer_edge import stopping
from fer_edge.atomic import atomic_dir


@pytest.fixture
def fresh_request(monkeypatch):
    monkeypatch.setattr(stopping, "_requested", threading.Event())
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in previous.items():
        signal.signal(number, handler)


def test_sigterm_raises_keyboard_interrupt_and_is_remembered(fresh_request):
    stopping.install()
    assert not stopping.requested()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.5)  # give the handler a bytecode boundary to run at
    assert stopping.requested()
    with pytest.raises(KeyboardInterrupt):
        stopping.check()


def test_a_swallowed_stop_request_keeps_the_temporary_folder_from_being_published(fresh_request, tmp_path):
    stopping.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.5)
    except KeyboardInterrupt:
        pass  # what TensorFlow's C++ dispatch sometimes does with it
    target = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "model.keras").write_text("finished, but the user asked to stop")
    assert os.listdir(tmp_path) == []


def test_without_a_request_check_does_nothing_and_the_folder_is_published(fresh_request, tmp_path):
    stopping.check()
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "a").write_text("x")
    assert os.listdir(tmp_path) == ["run"]


def test_an_error_that_a_stop_request_turned_into_is_reported_as_the_interruption(fresh_request):
    import typer
    from typer.testing import CliRunner

    from fer_edge.cli.app import friendly_errors

    app = typer.Typer()

    @app.command()
    @friendly_errors
    def work() -> None:
        stopping._requested.set()  # as the signal handler does
        raise RuntimeError("what TensorFlow made of the KeyboardInterrupt")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 130
    assert "interrupted" in result.output and "Traceback" not in result.output


def test_without_a_stop_request_an_unexpected_error_is_not_called_an_interruption(fresh_request):
    import typer
    from typer.testing import CliRunner

    from fer_edge.cli.app import friendly_errors

    app = typer.Typer()

    @app.command()
    @friendly_errors
    def work() -> None:
        raise RuntimeError("a real bug")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
