"""The trade: typed record bodies, rules with stable ids, derived state, trace, alerts.

Modules
- ``uscc``: GB 32100-2015 check character; ``codes``: licence number formats, approval
  numbers, 20-digit traceability codes, GTIN-14, closed vocabularies (roles, scopes, ...).
- ``bodies``: one frozen dataclass per record type, ``parse_body(type, body)`` strict.
- ``rules``: ``RULES`` (stable id -> description), ``WRITERS`` (who signs what),
  ``apply_record`` (check one record against the working state and record its effect).
- ``state``: derived tables (``trade_*``), row types, the per-submit overlay and the cache.
- ``ledger``: ``TradeLedger`` (``submit``, ``preverify``, ``rebuild``, read methods).
- ``trace``: forward / reverse / unit trace, the two-invoice rule (configurable policy).
- ``alerts``: expiring licences, near-expiry stock, excursions, two-invoice breaks.
- ``scenario``: a deterministic generator of signed trade stories (tests, bench, demo).
- ``epcis``: the records as a GS1 EPCIS 2.0 JSON-LD document (mapping in docs/epcis.md).

Choices where DOMAIN.md is silent
- Keys: the consortium admin enrols participants and may rotate or revoke any key; a
  participant may also rotate or revoke its own keys. A revoked (or retired) key signs
  nothing once the revocation is recorded, whatever time the record claims.
- Carriers sign no trade records; the temperature log summary travels in the shipper's
  shipment. Auditors and regulators sign nothing.
- Licences are valid from ``valid_from`` up to, not including, ``valid_to`` on the trade's
  calendar day in China Standard Time. Order and shipment check both sides; acceptance checks
  the consignee.
- Rejected goods go back to the shipper's stock at acceptance; the order then lacks them
  again. A return (by the consignee of an accepted shipment) moves stock back to the shipper
  at once and lowers the amount owed; it does not reopen the order.
- Quarantine is a ``recall`` record with ``action: quarantine`` (and ``release`` lifts it);
  a recall (``action: recall``, level I/II/III) is final.
- Corrections (envelope ``supersedes``) apply to qualifications (withdrawn; a reviewer may
  correct any licence), invoices (void), orders with nothing shipped (cancelled) and
  shipments in transit (cancelled, stock restored); other types are refused.
- Escrow addresses in an order must be the parties' enrolled EVM accounts; an escrow
  (chain id, contract, order id) pays for one order.
"""
