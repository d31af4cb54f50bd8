"""The chain side of lotproof: contracts' artifacts, connection, anchoring, escrow.

- ``anchors.chain``: ``connect(url)`` and ``Chain`` (deploy, transact, one revert shape).
- ``anchors.embedded``: ``open_embedded_chain(path)``, the in-process EVM persisted in a file.
- ``anchors.node``: ``AnvilNode.start(state_file, port)``, a managed local JSON-RPC node.
- ``anchors.publisher``: ``AnchorPublisher``, posting checkpoints to the AnchorRegistry.
- ``anchors.check``: ``check_checkpoint_against_anchor`` (pure) and ``fetch_anchor``.
- ``anchors.escrow``: ``EscrowClient``, TradeEscrow calls, status and decoded events.

Importing the package imports nothing heavy; import the module you need.
"""
