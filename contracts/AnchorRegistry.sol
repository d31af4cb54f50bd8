// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {RFC9162} from "./RFC9162.sol";

/// @title AnchorRegistry: an append-only history of a transparency log's checkpoints
/// @notice The anchorer posts `(treeSize, root)` checkpoints of one RFC 9162 log. Every anchor
/// after the first carries the consistency proof from the latest anchored checkpoint and the
/// contract verifies it, so the chain itself refuses a history that rewrites an anchored one.
/// @dev Gas layout. `ANCHORER_ROLE` has exactly one holder, and the registry's state lives in
/// ONE slot keyed by that holder's address: a non-zero slot is the role check, and the same
/// cold read gives the anchor count, the latest tree size and the unflushed sizes by index.
/// An anchor therefore reads two slots (that state and the latest root), writes one new slot
/// (the root, keyed by tree size) and updates the state in place. Tree sizes by index are
/// packed four to a slot: the first three of each group of four wait in the state slot and
/// the fourth anchor of the group flushes them, which is the only anchor that writes a
/// second new slot. DEFAULT_ADMIN_ROLE is plain OpenZeppelin AccessControl.
contract AnchorRegistry is AccessControl {
    /// @notice The role allowed to post anchors (one holder at a time).
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

    /// @notice The anchorer role moved to a new account (zero: revoked, nobody may anchor).
    /// @param previous The account that lost the role (zero: none held it).
    /// @param current The account that holds it now (zero: none).
    event AnchorerRotated(address indexed previous, address indexed current);

    uint256 private constant SIZE_MASK = 0xffffffffffffffff;

    /// @dev One anchor in the state's count field (bits 192-255 hold count + 1).
    uint256 private constant ONE_ANCHOR = 1 << 192;

    /// @dev The registry's state, under the anchorer's address (under address(0) while the
    /// role is revoked; zero for every other account). With `count` anchors and
    /// g = count / 4: bits 0-63 the latest tree size (0 before the first anchor), which is
    /// anchor 4g + 2's size when count % 4 == 3; bits 64-127 anchor 4g's size when
    /// count % 4 >= 1; bits 128-191 anchor 4g + 1's size when count % 4 >= 2; bits 192-255
    /// count + 1, so the anchorer's state is never zero.
    mapping(address account => uint256 state) private _states;

    /// @dev The current holder of ANCHORER_ROLE (zero while revoked).
    address private _anchorer;

    /// @dev Group g holds the tree sizes of anchors 4g..4g+3, anchor 4g + k in bits 64k.
    mapping(uint256 group => uint256 sizes) private _sizeGroups;

    /// @dev The root anchored for each tree size (zero: never anchored).
    mapping(uint64 treeSize => bytes32 root) private _roots;

    /// @notice Set up the registry's roles.
    /// @param admin The account holding DEFAULT_ADMIN_ROLE (rotates the anchorer).
    /// @param anchorer_ The account holding ANCHORER_ROLE.
    constructor(address admin, address anchorer_) {
        if (admin == address(0) || anchorer_ == address(0)) revert AnchorRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, anchorer_);
    }

    /// @notice Move the anchorer role to `newAnchorer`, revoking it from the current anchorer.
    /// @dev The same as `grantRole(ANCHORER_ROLE, newAnchorer)`.
    /// @param newAnchorer The account that will post anchors.
    function rotateAnchorer(address newAnchorer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _grantRole(ANCHORER_ROLE, newAnchorer);
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
    ) external {
        uint256 state = _states[msg.sender];
        if (state == 0) revert AccessControlUnauthorizedAccount(msg.sender, ANCHORER_ROLE);
        if (root == bytes32(0)) revert AnchorRegistryZeroRoot();
        uint64 latest = uint64(state);
        if (treeSize <= latest) revert AnchorRegistryStaleTreeSize(latest, treeSize);
        if (latest == 0) {
            if (consistencyProof.length != 0) {
                revert RFC9162.RFC9162ProofSizeMismatch(consistencyProof.length, 0);
            }
        } else if (
            !RFC9162.verifyConsistency(latest, treeSize, _roots[latest], root, consistencyProof)
        ) {
            revert AnchorRegistryInconsistentHistory();
        }
        _roots[treeSize] = root;
        uint256 count;
        uint256 size = treeSize;
        // count + 1 < 2**64 (each anchor has a distinct non-zero uint64 size), so neither the
        // decrement nor the increments below can wrap.
        unchecked {
            count = (state >> 192) - 1;
            uint256 position = count & 3;
            if (position == 0) {
                state = ((count + 2) << 192) | (size << 64) | size;
            } else if (position == 1) {
                state = ((state & ~SIZE_MASK) + ONE_ANCHOR) | (size << 128) | size;
            } else if (position == 2) {
                state = ((state & ~SIZE_MASK) + ONE_ANCHOR) | size;
            } else {
                _sizeGroups[count >> 2] =
                    ((state >> 64) & SIZE_MASK) |
                    (((state >> 128) & SIZE_MASK) << 64) |
                    ((state & SIZE_MASK) << 128) |
                    (size << 192);
                state = ((count + 2) << 192) | size;
            }
        }
        _states[msg.sender] = state;
        emit Anchored(count, treeSize, root);
    }

    /// @notice The number of anchors so far.
    /// @return The anchor count.
    function anchorCount() external view returns (uint256) {
        return _count(_state());
    }

    /// @notice The account holding ANCHORER_ROLE (zero while the role is revoked).
    /// @return The anchorer's address.
    function anchorer() external view returns (address) {
        return _anchorer;
    }

    /// @notice The checkpoint anchored at position `index`.
    /// @param index The anchor's position, from 0.
    /// @return treeSize The log's size at that anchor.
    /// @return root The log's root at that size.
    function anchorAt(uint256 index) external view returns (uint64 treeSize, bytes32 root) {
        uint256 state = _state();
        uint256 count = _count(state);
        if (index >= count) revert AnchorRegistryIndexOutOfRange(index, count);
        treeSize = _sizeAt(state, count, index);
        root = _roots[treeSize];
    }

    /// @notice The latest anchored checkpoint.
    /// @return index The latest anchor's position.
    /// @return treeSize Its tree size.
    /// @return root Its root.
    function latestAnchor() external view returns (uint256 index, uint64 treeSize, bytes32 root) {
        uint256 state = _state();
        uint256 count = _count(state);
        if (count == 0) revert AnchorRegistryNoAnchor();
        index = count - 1;
        treeSize = uint64(state);
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
        uint256 state = _state();
        uint256 count = _count(state);
        uint256 lo = 0;
        uint256 hi = count;
        // Invariant: the index lies in [lo, hi); lo < hi <= count, so mid is in range and
        // neither bound can overflow or underflow.
        unchecked {
            while (lo + 1 < hi) {
                uint256 mid = (lo + hi) >> 1;
                if (_sizeAt(state, count, mid) <= treeSize) lo = mid;
                else hi = mid;
            }
        }
        return lo;
    }

    /// @notice Whether `account` holds `role`; ANCHORER_ROLE is held by `anchorer()` alone.
    /// @param role The role.
    /// @param account The account.
    /// @return True when `account` holds `role`.
    function hasRole(bytes32 role, address account) public view override returns (bool) {
        if (role == ANCHORER_ROLE) return account != address(0) && account == _anchorer;
        return super.hasRole(role, account);
    }

    /// @dev Granting ANCHORER_ROLE moves it (and the registry's state) to `account`, revoking
    /// it from the previous holder: the role has one holder, whose state slot is the check.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        if (role != ANCHORER_ROLE) return super._grantRole(role, account);
        if (account == address(0)) revert AnchorRegistryZeroAddress();
        address previous = _anchorer;
        if (account == previous) return false;
        _moveState(previous, account);
        if (previous != address(0)) emit RoleRevoked(ANCHORER_ROLE, previous, _msgSender());
        emit RoleGranted(ANCHORER_ROLE, account, _msgSender());
        emit AnchorerRotated(previous, account);
        return true;
    }

    /// @dev Revoking (or renouncing) ANCHORER_ROLE from its holder leaves no anchorer until the
    /// admin grants it again; the state waits under address(0), which never sends a call.
    function _revokeRole(bytes32 role, address account) internal override returns (bool) {
        if (role != ANCHORER_ROLE) return super._revokeRole(role, account);
        if (account == address(0) || account != _anchorer) return false;
        _moveState(account, address(0));
        emit RoleRevoked(ANCHORER_ROLE, account, _msgSender());
        emit AnchorerRotated(account, address(0));
        return true;
    }

    /// @dev Move the state slot from `from` to `to` and record `to` as the anchorer.
    function _moveState(address from, address to) private {
        uint256 state = _states[from];
        if (state == 0) state = ONE_ANCHOR; // the constructor's first grant: no anchor yet
        delete _states[from];
        _states[to] = state;
        _anchorer = to;
    }

    /// @dev The registry's state slot, wherever the role currently is.
    function _state() private view returns (uint256) {
        return _states[_anchorer];
    }

    /// @dev The anchor count held in `state` (never zero: see `_states`).
    function _count(uint256 state) private pure returns (uint256) {
        unchecked {
            return (state >> 192) - 1;
        }
    }

    /// @dev The tree size of anchor `index` (< count).
    function _sizeAt(uint256 state, uint256 count, uint256 index) private view returns (uint64) {
        uint256 group = index >> 2;
        uint256 position = index & 3;
        if (group < count >> 2) return uint64(_sizeGroups[group] >> (64 * position));
        if (position == 2) return uint64(state);
        return uint64(state >> (64 + 64 * position));
    }
}
