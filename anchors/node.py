"""A managed anvil node: a real JSON-RPC EVM process on 127.0.0.1, stopped by its own PID.

The binary ships inside the npm package ``@foundry-rs/anvil`` and is run directly (never
through ``npx``, whose death would orphan the server). ``--prune-history`` keeps its disk use
flat; ``--state FILE`` loads the chain from ``FILE`` if it exists and writes it back when the
node stops (SIGINT), which is how a restart keeps anchors and escrows.

anvil's funded development accounts come from its public test mnemonic ("test test ... junk");
like the embedded chain's accounts they are for development only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from web3 import HTTPProvider, Web3

from anchors.errors import ChainError

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
HOST = "127.0.0.1"
#: Receipt polling interval for web3 against anvil: it mines asynchronously, so web3's
#: default 0.1 s would cap a client at ~9 transactions per second.
POLL_LATENCY = 0.005


class NodeError(ChainError):
    """The anvil node could not be started, did not answer, or died."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when a listening socket could bind ``port`` on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def rpc_answers(url: str, timeout: float = 0.5) -> bool:
    """True when ``url`` answers ``eth_chainId`` with a JSON-RPC result."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(  # noqa: S310 - the URL is ours, http on 127.0.0.1
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return "result" in json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def http_web3(url: str, timeout: float = 10.0) -> Web3:
    """A Web3 over JSON-RPC; wait for receipts with ``poll_latency=POLL_LATENCY``."""
    return Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))


class AnvilNode:
    """A running anvil process. Use ``AnvilNode.start(...)``; stop with ``stop()`` or ``with``."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        state_file: Path | None,
        log_path: Path | None,
    ) -> None:
        self._process = process
        self.port = port
        self.state_file = state_file
        self.log_path = log_path
        self.url = f"http://{HOST}:{port}"

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    @classmethod
    def start(
        cls,
        state_file: Path | None = None,
        port: int | None = None,
        *,
        binary: Path = ANVIL_BINARY,
        startup_timeout: float = 20.0,
        state_interval: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> AnvilNode:
        """Start anvil on 127.0.0.1 and wait (at most ``startup_timeout`` s) for JSON-RPC.

        With ``state_file`` the node loads that file if it exists and writes it on ``stop()``;
        with ``state_interval`` also every that many seconds, so a crash loses at most that
        much. Without ``port`` a free one is chosen.
        """
        if not binary.is_file():
            raise NodeError(f"anvil binary not found at {binary}: run `make setup` (npm ci)")
        if port is not None and not port_is_free(port):
            raise NodeError(f"port {port} on {HOST} is already in use; cannot start anvil there")
        chosen = port if port is not None else free_port()
        args = [
            str(binary),
            "--host",
            HOST,
            "--port",
            str(chosen),
            "--silent",
            "--prune-history",
            "--hardfork",  # the in-process chain's rules, so gas and behaviour agree
            "prague",
        ]
        log_path: Path | None = None
        if state_file is not None:
            state_file = Path(state_file)
            args += ["--state", str(state_file)]
            if state_interval is not None:
                args += ["--state-interval", str(int(state_interval))]
            log_path = state_file.with_name(state_file.name + ".log")
        args += list(extra_args)
        log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            process = subprocess.Popen(  # the binary path is ours; no shell
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        except OSError as exc:
            raise NodeError(f"cannot start anvil ({binary}): {exc}") from exc
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        node = cls(process, chosen, state_file, log_path)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise NodeError(
                    f"anvil exited with status {code} before answering on {node.url}"
                    + (f" (see {log_path})" if log_path else "")
                )
            if rpc_answers(node.url, timeout=0.5) and process.poll() is None:
                return node
            time.sleep(0.02)
        node.stop()
        raise NodeError(f"anvil did not answer JSON-RPC on {node.url} within {startup_timeout} s")

    def web3(self) -> Web3:
        return http_web3(self.url)

    def running(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT (anvil then writes its state file), wait, then SIGKILL. Only our own PID.

        Returns the exit status (None if it had to be killed and still did not report one).
        """
        process = self._process
        if process.poll() is not None:
            return process.returncode
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None

    def kill(self) -> int | None:
        """SIGKILL this node (a crash: no state is written). Only our own PID."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
