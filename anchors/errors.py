"""Errors of the chain side.

``ChainError`` is the root for everything the chain can refuse or fail at; it is a
``LedgerError`` so callers map every failure in one place. ``ContractRevert`` is the one
shape of a contract revert, whatever the backend: eth-tester's ``TransactionFailed``,
web3's ``ContractLogicError`` / ``ContractCustomError`` / ``ContractPanicError``, a JSON-RPC
``Web3RPCError``, or a mined receipt with status 0 all become a ``ContractRevert`` carrying
the custom error's name and arguments decoded from the committed ABIs.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import LedgerError


class ChainError(LedgerError):
    """A chain operation failed (node unreachable, bad artifact, reverted call...)."""


class ChainConnectionError(ChainError):
    """The JSON-RPC node could not be reached or answered nonsense."""


class ArtifactError(ChainError):
    """A compiled-contract artifact is missing or malformed."""


class ContractRevert(ChainError):
    """A contract call or transaction reverted.

    Attributes:
        error_name: the custom error's name (``"AnchorRegistryStaleTreeSize"``), ``"Error"``
            for ``revert("...")``/``require``, ``"Panic"`` for a panic code, or ``None``
            when the revert carried no data or an unknown selector.
        selector: the 4-byte selector (empty when there was no data).
        args: the decoded error arguments, in ABI order.
        data: the raw revert data.
        tx_hash: the transaction's hash when it was mined (status 0), else ``None``.
    """

    def __init__(
        self,
        error_name: str | None,
        selector: bytes = b"",
        args: tuple[Any, ...] = (),
        data: bytes = b"",
        tx_hash: bytes | None = None,
    ) -> None:
        self.error_name = error_name
        self.selector = selector
        self.data = data
        self.tx_hash = tx_hash
        super().__init__(self._describe(error_name, selector, args, data))
        # Set after Exception.__init__, which would otherwise store the message in .args.
        self.args = args

    @staticmethod
    def _describe(
        error_name: str | None, selector: bytes, args: tuple[Any, ...], data: bytes
    ) -> str:
        if error_name is not None:
            shown = ", ".join(_show(a) for a in args)
            return f"contract reverted with {error_name}({shown})"
        if selector:
            return f"contract reverted with unknown error 0x{selector.hex()} (data 0x{data.hex()})"
        return "contract reverted without a reason"

    def __str__(self) -> str:
        return self._describe(self.error_name, self.selector, self.args, self.data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            self.__class__,
            (self.error_name, self.selector, self.args, self.data, self.tx_hash),
        )


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)
