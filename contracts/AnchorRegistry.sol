// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {RFC9162} from "./RFC9162.sol";

/// @title AnchorRegistry: an append-only history of a transparency log's checkpoints
/// @notice The anchorer posts `(treeSize, root)` checkpoints of one RFC 9162 log. Every anchor
/// after the first carries the consistency proof from the latest anchored checkpoint and the
/// contract verifies it, so the chain itself refuses a history that rewrites an anchored one.
/// @dev Storage per anchor is one new slot (the root, keyed by tree size). Tree sizes by index
/// are packed four to a slot: the newest up to three live in `_head` beside the anchor count
/// and are flushed into `_sizeGroups` with the fourth, so three anchors in four write no new
/// slot besides their root.
contract AnchorRegistry is AccessControl {
    /// @notice The role allowed to post anchors.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @notice `treeSize` does not exceed the latest anchored size.
    error AnchorRegistryStaleTreeSize(uint64 latest, uint64 given);

    /// @notice The consistency proof does not link the latest anchor to the new checkpoint.
    error AnchorRegistryInconsistentHistory();

    /// @notice Nothing has been anchored yet.
    error AnchorRegistryNoAnchor();

    /// @notice An anchor index at or beyond the anchor count.
    error AnchorRegistryIndexOutOfRange(uint256 index, uint256 count);

    /// @notice A tree size that was never anchored.
    error AnchorRegistryUnknownTreeSize(uint64 treeSize);

    /// @notice A zero root or tree size (the registry uses zero for "never anchored").
    error AnchorRegistryZeroRoot();

    /// @notice A zero address where an account is required.
    error AnchorRegistryZeroAddress();

    /// @notice A checkpoint was anchored.
    /// @param index The anchor's position, from 0.
    /// @param treeSize The log's size at the checkpoint.
    /// @param root The log's root at that size.
    event Anchored(uint256 indexed index, uint64 treeSize, bytes32 root);

    /// @notice The anchorer role moved to a new account.
    /// @param previous The account that lost the role.
    /// @param current The account that holds it now.
    event AnchorerRotated(address indexed previous, address indexed current);

    /// @dev Bits 0-63: anchor count; bits 64 + 64k: the tree size of anchor `4 * (count / 4) + k`
    /// for k < count % 4 (the current, not yet flushed group).
    uint256 private _head;

    /// @dev Group g holds the tree sizes of anchors 4g..4g+3, anchor 4g + k in bits 64k.
    mapping(uint256 group => uint256 sizes) private _sizeGroups;

    /// @dev The root anchored for each tree size (zero: never anchored).
    mapping(uint64 treeSize => bytes32 root) private _roots;

    /// @dev The account `rotateAnchorer` revokes.
    address private _anchorer;

    /// @notice Set up the registry's roles.
    /// @param admin The account holding DEFAULT_ADMIN_ROLE (rotates the anchorer).
    /// @param anchorer The account holding ANCHORER_ROLE.
    constructor(address admin, address anchorer) {
        if (admin == address(0) || anchorer == address(0)) revert AnchorRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, anchorer);
        _anchorer = anchorer;
    }

    /// @notice Move the anchorer role to `newAnchorer`, revoking it from the current anchorer.
    /// @param newAnchorer The account that will post anchors.
    function rotateAnchorer(address newAnchorer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newAnchorer == address(0)) revert AnchorRegistryZeroAddress();
        address previous = _anchorer;
        _anchorer = newAnchorer;
        _revokeRole(ANCHORER_ROLE, previous);
        _grantRole(ANCHORER_ROLE, newAnchorer);
        emit AnchorerRotated(previous, newAnchorer);
    }

    /// @notice Anchor the checkpoint `(treeSize, root)`.
    /// @dev The first anchor takes an empty proof; every later one the RFC 9162 consistency
    /// proof from the latest anchored size to `treeSize`.
    /// @param treeSize The log's size; must exceed the latest anchored size.
    /// @param root The log's root at `treeSize`; not zero.
    /// @param consistencyProof The consistency proof from the latest anchor.
    function anchor(
        uint64 treeSize,
        bytes32 root,
        bytes32[] calldata consistencyProof
    ) external onlyRole(ANCHORER_ROLE) {
        if (root == bytes32(0)) revert AnchorRegistryZeroRoot();
        uint256 head = _head;
        uint256 count = uint64(head);
        if (count == 0) {
            if (treeSize == 0) revert AnchorRegistryStaleTreeSize(0, 0);
            if (consistencyProof.length != 0) {
                revert RFC9162.RFC9162ProofSizeMismatch(consistencyProof.length, 0);
            }
        } else {
            uint64 latest = _latestSize(head, count);
            if (treeSize <= latest) revert AnchorRegistryStaleTreeSize(latest, treeSize);
            if (!RFC9162.verifyConsistency(latest, treeSize, _roots[latest], root, consistencyProof)) {
                revert AnchorRegistryInconsistentHistory();
            }
        }
        _roots[treeSize] = root;
        uint256 position = count & 3;
        // count < 2**64 - 1: each anchor has a distinct non-zero uint64 size, so count + 1
        // fits in the low 64 bits and never carries into the packed sizes.
        unchecked {
            if (position == 3) {
                _sizeGroups[count >> 2] = (head >> 64) | (uint256(treeSize) << 192);
                _head = count + 1;
            } else {
                _head = (head | (uint256(treeSize) << (64 + 64 * position))) + 1;
            }
        }
        emit Anchored(count, treeSize, root);
    }

    /// @notice The number of anchors so far.
    /// @return The anchor count.
    function anchorCount() external view returns (uint256) {
        return uint64(_head);
    }

    /// @notice The account `rotateAnchorer` will revoke: the current anchorer.
    /// @return The anchorer's address.
    function anchorer() external view returns (address) {
        return _anchorer;
    }

    /// @notice The checkpoint anchored at position `index`.
    /// @param index The anchor's position, from 0.
    /// @return treeSize The log's size at that anchor.
    /// @return root The log's root at that size.
    function anchorAt(uint256 index) external view returns (uint64 treeSize, bytes32 root) {
        uint256 head = _head;
        uint256 count = uint64(head);
        if (index >= count) revert AnchorRegistryIndexOutOfRange(index, count);
        treeSize = _sizeAt(head, count, index);
        root = _roots[treeSize];
    }

    /// @notice The latest anchored checkpoint.
    /// @return index The latest anchor's position.
    /// @return treeSize Its tree size.
    /// @return root Its root.
    function latestAnchor() external view returns (uint256 index, uint64 treeSize, bytes32 root) {
        uint256 head = _head;
        uint256 count = uint64(head);
        if (count == 0) revert AnchorRegistryNoAnchor();
        index = count - 1;
        treeSize = _latestSize(head, count);
        root = _roots[treeSize];
    }

    /// @notice The root anchored for `treeSize`, or zero when that size was never anchored.
    /// @param treeSize A tree size.
    /// @return The anchored root or zero.
    function rootForSize(uint64 treeSize) external view returns (bytes32) {
        return _roots[treeSize];
    }

    /// @notice The position of the anchor with `treeSize`; reverts when it was never anchored.
    /// @dev Binary search over the sizes, which increase strictly with the index.
    /// @param treeSize An anchored tree size.
    /// @return The anchor's index.
    function indexForSize(uint64 treeSize) external view returns (uint256) {
        if (_roots[treeSize] == bytes32(0)) revert AnchorRegistryUnknownTreeSize(treeSize);
        uint256 head = _head;
        uint256 count = uint64(head);
        uint256 lo = 0;
        uint256 hi = count;
        // Invariant: the index lies in [lo, hi); lo < hi <= count, so mid is in range and
        // neither bound can overflow or underflow.
        unchecked {
            while (lo + 1 < hi) {
                uint256 mid = (lo + hi) >> 1;
                if (_sizeAt(head, count, mid) <= treeSize) lo = mid;
                else hi = mid;
            }
        }
        return lo;
    }

    /// @dev The tree size of anchor `index` (< count).
    function _sizeAt(uint256 head, uint256 count, uint256 index) private view returns (uint64) {
        uint256 group = index >> 2;
        uint256 position = index & 3;
        if (group == count >> 2) return uint64(head >> (64 + 64 * position));
        return uint64(_sizeGroups[group] >> (64 * position));
    }

    /// @dev The tree size of the latest anchor (count > 0).
    function _latestSize(uint256 head, uint256 count) private view returns (uint64) {
        uint256 position = count & 3;
        if (position == 0) return uint64(_sizeGroups[(count >> 2) - 1] >> 192);
        return uint64(head >> (64 * position));
    }
}
