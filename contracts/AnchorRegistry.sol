// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {RFC9162} from "./RFC9162.sol";

/// @title AnchorRegistry: an append-only history of a transparency log's checkpoints
/// @notice The anchorer posts `(treeSize, root)` checkpoints of one RFC 9162 log. Every anchor
/// after the first carries the consistency proof from the latest anchored checkpoint and the
/// contract verifies it, so the chain itself refuses a history that rewrites an anchored one.
/// Anchors are queryable by tree size here (`rootForSize`, `latestAnchor`) and by index
/// through the `Anchored` event, whose index and tree size are both topics.
/// @dev Gas layout. `ANCHORER_ROLE` has exactly one holder, and the registry's state lives in
/// ONE slot keyed by that holder's address: a non-zero slot is the role check, and the same
/// cold read gives the anchor count and the latest tree size. An anchor reads two slots (that
/// state and the latest root), writes exactly one new slot (its root, keyed by tree size: the
/// key carries the size) and updates the state in place. No table of sizes by index is kept
/// in storage: a root and a size are 40 bytes, more than one slot, so such a table makes some
/// anchor write a second new slot (21,000 + 2 x 22,100 = 65,200 gas before any calldata).
/// Sizes increase strictly with the index, so the event log orders the anchors.
/// DEFAULT_ADMIN_ROLE is plain OpenZeppelin AccessControl.
contract AnchorRegistry is AccessControl {
    /// @notice The role allowed to post anchors (one holder at a time).
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @notice `treeSize` does not exceed the latest anchored size.
    error AnchorRegistryStaleTreeSize(uint64 latest, uint64 given);

    /// @notice The consistency proof does not link the latest anchor to the new checkpoint.
    error AnchorRegistryInconsistentHistory();

    /// @notice Nothing has been anchored yet.
    error AnchorRegistryNoAnchor();

    /// @notice A zero root or tree size (the registry uses zero for "never anchored").
    error AnchorRegistryZeroRoot();

    /// @notice A zero address where an account is required.
    error AnchorRegistryZeroAddress();

    /// @notice A checkpoint was anchored.
    /// @param index The anchor's position, from 0 (a topic: the query by index).
    /// @param treeSize The log's size at the checkpoint (a topic: the query by size).
    /// @param root The log's root at that size.
    event Anchored(uint256 indexed index, uint64 indexed treeSize, bytes32 root);

    /// @notice The anchorer role moved to a new account (zero: revoked, nobody may anchor).
    /// @param previous The account that lost the role (zero: none held it).
    /// @param current The account that holds it now (zero: none).
    event AnchorerRotated(address indexed previous, address indexed current);

    /// @dev One anchor in the state's count field (bits 64-255 hold count + 1).
    uint256 private constant ONE_ANCHOR = 1 << 64;

    /// @dev The registry's state, under the anchorer's address (under address(0) while the
    /// role is revoked; zero for every other account): bits 0-63 the latest tree size (0
    /// before the first anchor), bits 64-255 the anchor count + 1, so the anchorer's state is
    /// never zero.
    mapping(address account => uint256 state) private _states;

    /// @dev The current holder of ANCHORER_ROLE (zero while revoked).
    address private _anchorer;

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
        // count + 1 < 2**64 (each anchor has a distinct non-zero uint64 size): no wrap.
        unchecked {
            count = (state >> 64) - 1;
            state = state - latest + ONE_ANCHOR + treeSize;
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
            return (state >> 64) - 1;
        }
    }
}
