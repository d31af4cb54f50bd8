"""The trade: typed record bodies, rules with stable ids, derived state, trace, alerts.

Entry point: ``ledger.trade.ledger.TradeLedger``. Story generator:
``ledger.trade.scenario``.
"""
