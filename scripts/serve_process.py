"""`lotproof serve` as a child process on 127.0.0.1: started, awaited, stopped by its PID.

Used by the demo, the API benchmark and the end-to-end CLI test, so that all three start and
stop the server the same way.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from anchors.node import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServeError(RuntimeError):
    """The server exited or did not answer in time; the message says where its output is."""


class ServeProcess:
    """``lotproof serve --data-dir D --admin-file A [args]`` on a free 127.0.0.1 port."""

    def __init__(
        self,
        data_dir: Path,
        admin_file: Path,
        *,
        args: Sequence[str] = (),
        log_path: Path | None = None,
        startup_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        argv = [
            sys.executable,
            "-m",
            "scripts.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(self.port),
            "--admin-file",
            str(admin_file),
            *args,
        ]
        log = log_path.open("wb") if log_path is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait(startup_timeout)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n" + self.log_path.read_text(errors="replace")[-2000:]

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServeError(
                    f"lotproof serve exited with status {self.process.returncode}" + self._output()
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServeError(f"lotproof serve did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        """SIGINT (a clean shutdown that saves the embedded chain), then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
