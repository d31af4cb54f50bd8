"""The connection to an EVM chain: artifacts, deployment, transactions, one revert shape.

``connect(None)`` starts a fresh in-process chain (eth-tester on py-evm, Prague rules);
``connect("http://127.0.0.1:8545")`` talks JSON-RPC to any node (anvil, Besu, Quorum...).
Either way ``Chain.transact`` returns the mined receipt or raises ``ContractRevert``,
whichever of the five shapes the backend used to report the revert (eth-tester's
``TransactionFailed``, web3's ``ContractLogicError`` / ``ContractCustomError``, a JSON-RPC
``Web3RPCError``, or a receipt with status 0), with the custom error's name and arguments
decoded through a selector table built from every committed artifact.

Contracts are compiled ahead of time (``python -m scripts.compile_contracts``); at runtime
only ``anchors/artifacts/*.json`` is read, so no Node is needed.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import TxReceipt

from anchors.errors import ArtifactError, ChainConnectionError, ChainError, ContractRevert

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

RECEIPT_TIMEOUT = 120.0
"""Seconds to wait for a receipt before giving up."""

POLL_LATENCY = 0.005
"""Receipt polling interval over JSON-RPC (anvil mines asynchronously)."""

Sender = str | LocalAccount
"""An account the node signs for (its address) or a local key that signs here."""

# --- artifacts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A compiled contract as committed in ``anchors/artifacts/<name>.json``."""

    name: str
    source_name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler_version: str
    settings: Mapping[str, Any]
    sources: Mapping[str, str]
    """Source unit name -> SHA-256 hex of the file compiled."""


def artifact_names() -> list[str]:
    """The names of every committed artifact."""
    return sorted(path.stem for path in ARTIFACTS_DIR.glob("*.json"))


@functools.cache
def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract ``name`` (e.g. ``"AnchorRegistry"``)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not path.is_file():
        raise ArtifactError(
            f"no artifact for contract {name!r}; expected one of {', '.join(artifact_names())}"
        )
    try:
        raw = json.loads(path.read_text())
        return Artifact(
            name=raw["contractName"],
            source_name=raw["sourceName"],
            abi=raw["abi"],
            bytecode=bytes.fromhex(raw["bytecode"].removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(raw["deployedBytecode"].removeprefix("0x")),
            compiler_version=raw["compiler"]["version"],
            settings=raw["settings"],
            sources={unit: entry["sha256"] for unit, entry in raw["sources"].items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"artifact {path.name} is malformed: {exc}") from exc


# --- revert decoding ------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSpec:
    """A custom error: its name and ABI input types."""

    name: str
    input_types: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.input_types)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


def _canonical_type(entry: Mapping[str, Any]) -> str:
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


BUILTIN_ERRORS = (ErrorSpec("Error", ("string",)), ErrorSpec("Panic", ("uint256",)))


@functools.cache
def error_table() -> dict[bytes, ErrorSpec]:
    """Selector -> error, from every committed artifact plus ``Error`` and ``Panic``."""
    table = {spec.selector: spec for spec in BUILTIN_ERRORS}
    for name in artifact_names():
        for entry in load_artifact(name).abi:
            if entry.get("type") != "error":
                continue
            spec = ErrorSpec(
                entry["name"], tuple(_canonical_type(i) for i in entry.get("inputs", []))
            )
            known = table.setdefault(spec.selector, spec)
            if known != spec:
                raise ArtifactError(
                    f"selector 0x{spec.selector.hex()} names both {known.signature} "
                    f"and {spec.signature}"
                )
    return table


def decode_revert(data: bytes, tx_hash: bytes | None = None) -> ContractRevert:
    """The ``ContractRevert`` for raw revert data (empty data: no reason given)."""
    data = bytes(data)
    if len(data) < 4:
        return ContractRevert(None, b"", (), data, tx_hash)
    selector = data[:4]
    spec = error_table().get(selector)
    if spec is None:
        return ContractRevert(None, selector, (), data, tx_hash)
    try:
        args = tuple(abi_decode(list(spec.input_types), data[4:]))
    except Exception:  # malformed arguments: keep the name, report the raw data
        return ContractRevert(spec.name, selector, (), data, tx_hash)
    return ContractRevert(spec.name, selector, args, data, tx_hash)


_BYTES_LITERAL = re.compile(r"""b(['"]).*\1""", re.DOTALL)


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"0x([0-9a-fA-F]{2})*", text):
            return bytes.fromhex(text[2:])
    return None


def revert_data(exc: BaseException) -> bytes | None:
    """Dig the revert data out of any backend's exception, or None when it carries none."""
    if isinstance(exc, ContractLogicError):
        found = _as_bytes(exc.data)
        if found is not None:
            return found
    if isinstance(exc, Web3RPCError):
        response: Any = exc.rpc_response or {}
        error = response.get("error") if isinstance(response, Mapping) else None
        if isinstance(error, Mapping):
            data: Any = error.get("data")
            if isinstance(data, Mapping):
                data = data.get("data")
            found = _as_bytes(data)
            if found is not None:
                return found
    # eth-tester: TransactionFailed wraps py-evm's Revert(bytes), or only its repr in text.
    for link in _exception_chain(exc):
        for arg in link.args:
            if isinstance(arg, bytes | bytearray):
                return bytes(arg)
            if isinstance(arg, BaseException) and arg.args and isinstance(arg.args[0], bytes):
                return bytes(arg.args[0])
            if isinstance(arg, Mapping):
                found = _as_bytes(arg.get("data"))
                if found is not None:
                    return found
    for link in _exception_chain(exc):
        for arg in link.args:
            if isinstance(arg, str):
                match = _BYTES_LITERAL.search(arg)
                if match:
                    try:
                        literal = ast.literal_eval(match.group(0))
                    except (ValueError, SyntaxError):
                        continue
                    if isinstance(literal, bytes):
                        return literal
    return None


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _is_revert(exc: BaseException) -> bool:
    from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]

    if isinstance(exc, ContractLogicError | TransactionFailed):
        return True
    if isinstance(exc, Web3RPCError):
        message = str(exc).lower()
        return "revert" in message or revert_data(exc) is not None
    return False


def as_contract_revert(exc: BaseException) -> ContractRevert:
    """Turn a backend's revert exception into a ``ContractRevert``."""
    if isinstance(exc, ContractRevert):
        return exc
    data = revert_data(exc)
    if data is not None:
        return decode_revert(data)
    message = " ".join(str(a) for a in exc.args if isinstance(a, str))
    reason = message.removeprefix("execution reverted: ").removeprefix("execution reverted")
    if reason:  # eth-tester decodes Error(string) itself and keeps only the text
        return ContractRevert("Error", BUILTIN_ERRORS[0].selector, (reason,))
    return ContractRevert(None)


# --- the chain ------------------------------------------------------------------------------


class Chain:
    """A web3 connection with the project's contracts, senders and revert handling."""

    def __init__(self, w3: Web3, url: str | None) -> None:
        self.w3 = w3
        self.url = url
        try:
            self.chain_id: int = int(w3.eth.chain_id)
            self.accounts: list[str] = [to_checksum_address(a) for a in w3.eth.accounts]
        except Exception as exc:
            raise ChainConnectionError(f"chain at {url} did not answer: {exc}") from exc

    @property
    def embedded(self) -> bool:
        """True for the in-process eth-tester chain."""
        return self.url is None

    # contracts

    def deploy(
        self, name: str, *args: Any, sender: Sender | None = None, gas: int | None = None
    ) -> Contract:
        """Deploy contract ``name`` from its artifact; returns the bound contract."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.transact(factory.constructor(*args), sender or self.accounts[0], gas=gas)
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {name} mined no contract address")
        return self.contract(name, address)

    def contract(self, name: str, address: str) -> Contract:
        """Contract ``name`` bound at an existing ``address``."""
        abi = load_artifact(name).abi
        return self.w3.eth.contract(address=to_checksum_address(address), abi=abi)

    # transactions

    def transact(
        self,
        fn: Any,
        sender: Sender,
        value: int = 0,
        gas: int | None = None,
    ) -> TxReceipt:
        """Send ``fn`` (a bound contract function or constructor) and wait for its receipt.

        Raises ``ContractRevert`` when it reverts, at estimation or once mined.
        """
        address = sender.address if isinstance(sender, LocalAccount) else sender
        params: dict[str, Any] = {"from": to_checksum_address(address), "value": value}
        if gas is not None:
            params["gas"] = gas
        try:
            if isinstance(sender, LocalAccount):
                params["nonce"] = self.w3.eth.get_transaction_count(params["from"], "pending")
                tx = fn.build_transaction(params)
                signed = sender.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            else:
                tx_hash = fn.transact(params)
        except Exception as exc:
            if _is_revert(exc):
                raise as_contract_revert(exc) from exc
            raise ChainError(f"transaction failed before mining: {exc}") from exc
        receipt = self.wait(tx_hash)
        if receipt["status"] != 1:
            raise self._mined_revert(receipt)
        return receipt

    def call(self, fn: ContractFunction, sender: str | None = None, block: Any = "latest") -> Any:
        """Run a view (or simulate a transaction) and return its decoded result."""
        params: dict[str, Any] = {}
        if sender is not None:
            params["from"] = to_checksum_address(sender)
        try:
            return fn.call(cast(Any, params), block_identifier=block)
        except Exception as exc:
            if _is_revert(exc):
                raise as_contract_revert(exc) from exc
            raise ChainError(f"call failed: {exc}") from exc

    def wait(self, tx_hash: bytes) -> TxReceipt:
        """Wait (boundedly) for a transaction's receipt."""
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT, poll_latency=POLL_LATENCY
            )
        except Exception as exc:
            raise ChainError(f"no receipt for 0x{bytes(tx_hash).hex()}: {exc}") from exc

    def _mined_revert(self, receipt: TxReceipt) -> ContractRevert:
        """Replay a failed mined transaction on its parent state to read the revert data."""
        tx_hash = bytes(receipt["transactionHash"])
        tx = self.w3.eth.get_transaction(HexBytes(tx_hash))
        replay = {
            "from": tx["from"],
            "to": tx.get("to"),
            "data": tx.get("input"),
            "value": tx.get("value", 0),
            "gas": tx["gas"],
        }
        # The parent state is exact; a node that prunes history (anvil --prune-history)
        # only has the block's own state, which a failed transaction left unchanged.
        for block in (receipt["blockNumber"] - 1, receipt["blockNumber"]):
            try:
                self.w3.eth.call(cast(Any, replay), block_identifier=block)
            except Exception as exc:
                if _is_revert(exc):
                    found = as_contract_revert(exc)
                    return ContractRevert(
                        found.error_name, found.selector, found.args, found.data, tx_hash
                    )
                continue
            break
        return ContractRevert(None, tx_hash=tx_hash)

    # accounts and time

    def balance(self, address: str) -> int:
        """The native-coin balance of ``address`` in wei."""
        return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def timestamp(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def next_timestamp(self) -> int:
        """A lower bound for the next block's timestamp: on a chain whose clock follows the
        wall clock (eth-tester), the latest block may be minutes old, so deadlines should be
        computed from this, not from ``timestamp()``."""
        latest = self.timestamp()
        try:
            pending = int(self.w3.eth.get_block("pending")["timestamp"])
        except Exception:  # a node without a pending block: the latest is all we know
            pending = latest
        return max(latest + 1, pending)

    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward by ``seconds`` and mine a block at the new time."""
        if self.embedded:
            tester = self._tester()
            pending = int(tester.get_block_by_number("pending")["timestamp"])
            tester.time_travel(pending + seconds)
            tester.mine_blocks(1)
        else:
            self._rpc("evm_increaseTime", [seconds])
            self._rpc("evm_mine", [])

    def mine(self) -> None:
        """Mine one empty block."""
        if self.embedded:
            self._tester().mine_blocks(1)
        else:
            self._rpc("evm_mine", [])

    def snapshot(self) -> Any:
        """Snapshot the chain state (development chains: eth-tester, anvil, Hardhat)."""
        if self.embedded:
            return self._tester().take_snapshot()
        return self._rpc("evm_snapshot", [])

    def revert_to(self, snapshot: Any) -> None:
        """Return to a snapshot taken with ``snapshot()`` (which it consumes on anvil)."""
        if self.embedded:
            self._tester().revert_to_snapshot(snapshot)
        elif not self._rpc("evm_revert", [snapshot]):
            raise ChainError(f"node refused to revert to snapshot {snapshot}")

    def _tester(self) -> Any:
        return cast(Any, self.w3.provider).ethereum_tester

    def _rpc(self, method: str, params: Sequence[Any]) -> Any:
        response = self.w3.provider.make_request(cast(Any, method), list(params))
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response.get("result")


def connect(url: str | None = None, *, timeout: float = 10.0) -> Chain:
    """A chain: ``None`` for a fresh in-process eth-tester chain, else a JSON-RPC URL."""
    if url is None:
        from eth_tester import EthereumTester, PyEVMBackend  # type: ignore[import-untyped]
        from web3 import EthereumTesterProvider

        return Chain(Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend()))), None)
    if not url.startswith(("http://", "https://")):
        raise ChainConnectionError(f"unsupported chain URL {url!r}: want http:// or https://")
    provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})
    return Chain(Web3(provider), url)
