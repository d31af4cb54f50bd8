"""Fast proof plans for storage: the same plans as ``ledger.merkle``, with fewer steps.

``ledger.merkle.inclusion_plan`` / ``consistency_plan`` walk the RFC 9162 recursion and cover
every sibling range with ``range_nodes``. In a stored tree all but at most one sibling are
perfect subtrees, so the path of a perfect node can be read off the bits of its index and
of the tree's last leaf (as in transparency-dev/merkle's ``proof.Nodes``): below the
level where the two paths fork every sibling is a stored node, except the right sibling at
the fork, which may be partial and is then the fold of its perfect parts; above the fork
only the left siblings are there. The results equal ``ledger.merkle``'s plans exactly
(tests/test_storage_log.py checks every pair of sizes up to a few hundred).
"""

from __future__ import annotations

from ledger.merkle import NodeId, Plan, consistency_plan, inclusion_plan, range_nodes


def node_path(level: int, index: int, size: int) -> Plan:
    """Siblings from the perfect node ``(level, index)`` up to the root of ``size`` leaves.

    Requires the node to lie inside the tree: ``(index + 1) << level <= size``.
    """
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    plan: Plan = []
    for k in range(inner):
        lv = level + k
        sibling = (index >> k) ^ 1
        start = sibling << lv
        if start + (1 << lv) <= size:
            plan.append([(lv, sibling)])
        else:
            plan.append(range_nodes(start, size))
    j, lv = index >> inner, level + inner
    while j:
        if j & 1:
            plan.append([(lv, j ^ 1)])
        j >>= 1
        lv += 1
    return plan


def fast_inclusion_plan(index: int, size: int) -> Plan:
    """``ledger.merkle.inclusion_plan(index, size)``, computed directly."""
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        return inclusion_plan(index, size)  # raises the reference's named error
    return node_path(0, index, size)


def fast_consistency_plan(size1: int, size2: int) -> Plan:
    """``ledger.merkle.consistency_plan(size1, size2)``, computed directly."""
    if type(size1) is not int or type(size2) is not int or not 0 < size1 < size2:
        return consistency_plan(size1, size2)  # trivial cases and named errors
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    path = node_path(level, index, size2)
    if index:  # size1 is not a power of two: its last perfect node starts the proof
        path.insert(0, [(level, index)])
    return path


def node_ids(plan: Plan) -> list[NodeId]:
    return [node for element in plan for node in element]
