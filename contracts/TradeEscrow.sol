// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {RFC9162} from "./RFC9162.sol";

/// @title The anchor registry as the escrow sees it
/// @notice Only the lookup of an anchored root is needed.
interface IAnchorRoots {
    /// @notice The root anchored for `treeSize`, or zero when that size was never anchored.
    /// @param treeSize A tree size.
    /// @return The anchored root or zero.
    function rootForSize(uint64 treeSize) external view returns (bytes32);
}

/// @title TradeEscrow: per-order escrow between enrolled buyers and sellers
/// @notice A buyer deposits for an order (native coin or an ERC-20 token); the money goes to
/// the seller when the buyer releases it, or when anyone presents the acceptance leaf's
/// RFC 9162 inclusion proof against a root anchored in the AnchorRegistry; it goes back to
/// the buyer after the deadline when nothing was released; a dispute freezes it until the
/// arbiter splits it.
/// @dev Escrows are keyed by (buyer, orderId), so another buyer cannot squat an order id.
/// One escrow is one storage slot (amount, deadline, seller's member id, status, token flag);
/// the token address takes a second slot only for ERC-20 escrows. Payments are pushed with a
/// bounded gas allowance and become a withdrawable credit when the recipient refuses them,
/// so no recipient can block a settlement. State changes precede every external call.
contract TradeEscrow is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice The role allowed to resolve disputes.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @notice Gas forwarded with a native-coin payment (enough for a smart-contract wallet's
    /// receive hook, too little for a meaningful reentrant call); failures become credits.
    uint256 public constant PAYMENT_GAS = 10_000;

    /// @notice Escrow status: no escrow for this (buyer, orderId).
    uint8 public constant STATUS_NONE = 0;
    /// @notice Escrow status: money deposited, nothing settled.
    uint8 public constant STATUS_FUNDED = 1;
    /// @notice Escrow status: frozen by a dispute until the arbiter resolves it.
    uint8 public constant STATUS_DISPUTED = 2;
    /// @notice Escrow status: released by the buyer or by an acceptance proof.
    uint8 public constant STATUS_RELEASED = 3;
    /// @notice Escrow status: refunded to the buyer after the deadline.
    uint8 public constant STATUS_REFUNDED = 4;
    /// @notice Escrow status: split by the arbiter.
    uint8 public constant STATUS_RESOLVED = 5;

    /// @notice Leaf version and kind of an acceptance leaf (ledger/leaf.py).
    uint256 private constant LEAF_VERSION = 1;
    uint256 private constant LEAF_KIND_ACCEPTANCE = 10;

    /// @notice The account is not an enrolled participant.
    error TradeEscrowNotEnrolled(address account);
    /// @notice The account is already enrolled.
    error TradeEscrowAlreadyEnrolled(address account);
    /// @notice A zero address where an account or token is required.
    error TradeEscrowZeroAddress();
    /// @notice The buyer named itself as the seller.
    error TradeEscrowSelfDealing(address account);
    /// @notice An escrow already exists for this (buyer, orderId).
    error TradeEscrowAlreadyExists(address buyer, bytes32 orderId);
    /// @notice There is no escrow for this (buyer, orderId).
    error TradeEscrowNotFound(address buyer, bytes32 orderId);
    /// @notice A deposit of zero.
    error TradeEscrowZeroAmount();
    /// @notice A deposit above the 128-bit amount an escrow records.
    error TradeEscrowAmountTooLarge(uint256 amount);
    /// @notice A deadline that is not in the future.
    error TradeEscrowDeadlineInPast(uint64 deadline, uint256 timestamp);
    /// @notice The escrow is not in the status the operation needs.
    error TradeEscrowWrongStatus(uint8 expected, uint8 actual);
    /// @notice The escrow is frozen by an open dispute.
    error TradeEscrowDisputed(address buyer, bytes32 orderId);
    /// @notice The share for the seller exceeds the escrowed amount.
    error TradeEscrowAmountExceeded(uint256 toSeller, uint256 amount);
    /// @notice A refund before the deadline.
    error TradeEscrowDeadlineNotReached(uint64 deadline, uint256 timestamp);
    /// @notice The caller is neither the escrow's buyer nor its seller.
    error TradeEscrowNotParty(address account);
    /// @notice The tree size was never anchored in the registry.
    error TradeEscrowRootNotAnchored(uint64 treeSize);
    /// @notice The inclusion proof does not lead to the anchored root.
    error TradeEscrowInvalidProof();
    /// @notice A withdrawal with no credit.
    error TradeEscrowNothingToWithdraw(address account, address token);
    /// @notice A withdrawal of native coin that the recipient refused.
    error TradeEscrowWithdrawalFailed(address account, uint256 amount);

    /// @notice A buyer funded an escrow.
    /// @param buyer The buyer, who funded it.
    /// @param orderId The order.
    /// @param seller The seller to be paid.
    /// @param token The ERC-20 token, or zero for the native coin.
    /// @param amount The amount credited to the escrow.
    /// @param deadline The time after which it can be refunded.
    event Deposited(
        address indexed buyer,
        bytes32 indexed orderId,
        address indexed seller,
        address token,
        uint256 amount,
        uint64 deadline
    );
    /// @notice An escrow was released.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param toSeller The amount paid (or credited) to the seller.
    /// @param toBuyer The rest, paid (or credited) back to the buyer.
    /// @param byProof True when released by an acceptance proof, false by the buyer.
    event Released(
        address indexed buyer,
        bytes32 indexed orderId,
        uint256 toSeller,
        uint256 toBuyer,
        bool byProof
    );
    /// @notice An escrow was refunded after its deadline.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param amount The amount paid (or credited) back.
    event Refunded(address indexed buyer, bytes32 indexed orderId, uint256 amount);
    /// @notice A dispute froze an escrow.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param by The party that opened it.
    event DisputeOpened(address indexed buyer, bytes32 indexed orderId, address by);
    /// @notice The arbiter split a disputed escrow.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param toSeller The seller's share.
    /// @param toBuyer The buyer's share.
    event DisputeResolved(
        address indexed buyer,
        bytes32 indexed orderId,
        uint256 toSeller,
        uint256 toBuyer
    );
    /// @notice A payment was refused by its recipient and kept as a withdrawable credit.
    /// @param account The recipient.
    /// @param token The token, or zero for the native coin.
    /// @param amount The amount credited.
    event Credited(address indexed account, address indexed token, uint256 amount);
    /// @notice An account withdrew its credit.
    /// @param account The account.
    /// @param token The token, or zero for the native coin.
    /// @param amount The amount withdrawn.
    event Withdrawn(address indexed account, address indexed token, uint256 amount);
    /// @notice The admin enrolled a participant.
    /// @param account The participant.
    event Enrolled(address indexed account);
    /// @notice The admin unenrolled a participant.
    /// @param account The former participant.
    event Unenrolled(address indexed account);

    /// @dev Escrow slot layout: amount (bits 0-127), deadline (128-191), seller's member id
    /// (192-223), status (224-231), token flag (232).
    uint256 private constant _DEADLINE_SHIFT = 128;
    uint256 private constant _SELLER_SHIFT = 192;
    uint256 private constant _STATUS_SHIFT = 224;
    uint256 private constant _TOKEN_FLAG = uint256(1) << 232;
    uint256 private constant _STATUS_MASK = uint256(0xff) << 224;

    /// @dev Member layout: member id (bits 0-31), enrolled flag (bit 32).
    uint256 private constant _ENROLLED = uint256(1) << 32;

    /// @notice The registry whose anchored roots acceptance proofs are checked against.
    IAnchorRoots public immutable anchorRegistry;

    /// @dev Packed member record per account (zero: never enrolled).
    mapping(address account => uint256 member) private _members;
    /// @dev The account behind each member id.
    mapping(uint256 id => address account) private _accounts;
    /// @dev The number of member ids handed out.
    uint256 private _memberCount;
    /// @dev Packed escrow per (buyer, orderId).
    mapping(address buyer => mapping(bytes32 orderId => uint256 escrow)) private _escrows;
    /// @dev The token of each ERC-20 escrow.
    mapping(address buyer => mapping(bytes32 orderId => address token)) private _tokens;
    /// @dev Payments refused by their recipients, withdrawable by them.
    mapping(address account => mapping(address token => uint256 amount)) private _credits;

    /// @notice Set up roles and the registry.
    /// @param admin The consortium admin (DEFAULT_ADMIN_ROLE: enrols participants).
    /// @param arbiter The dispute arbiter (ARBITER_ROLE).
    /// @param registry The AnchorRegistry holding the log's anchored roots.
    constructor(address admin, address arbiter, address registry) {
        if (admin == address(0) || arbiter == address(0) || registry == address(0)) {
            revert TradeEscrowZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARBITER_ROLE, arbiter);
        anchorRegistry = IAnchorRoots(registry);
    }

    // ----------------------------------------------------------------- participants

    /// @notice Enrol `account` as a participant (buyer or seller).
    /// @param account The participant's address.
    function enrol(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert TradeEscrowZeroAddress();
        uint256 member = _members[account];
        if (member & _ENROLLED != 0) revert TradeEscrowAlreadyEnrolled(account);
        if (member == 0) {
            // Member ids count enrolments of distinct accounts: far below 2**32.
            unchecked {
                member = ++_memberCount;
            }
            _accounts[member] = account;
        }
        _members[account] = member | _ENROLLED;
        emit Enrolled(account);
    }

    /// @notice Remove `account` from the participants; its open escrows still settle.
    /// @param account The participant's address.
    function unenrol(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 member = _members[account];
        if (member & _ENROLLED == 0) revert TradeEscrowNotEnrolled(account);
        _members[account] = member & ~_ENROLLED;
        emit Unenrolled(account);
    }

    /// @notice Whether `account` is an enrolled participant.
    /// @param account An address.
    /// @return True when enrolled.
    function isEnrolled(address account) external view returns (bool) {
        return _members[account] & _ENROLLED != 0;
    }

    // ----------------------------------------------------------------- deposits

    /// @notice Fund the escrow of `orderId` with the native coin sent.
    /// @param orderId The order.
    /// @param seller The enrolled seller.
    /// @param deadline The time after which an unreleased escrow can be refunded.
    function deposit(bytes32 orderId, address seller, uint64 deadline) external payable {
        uint256 sellerId = _checkNewEscrow(orderId, seller, deadline);
        _storeEscrow(orderId, seller, sellerId, address(0), msg.value, deadline);
    }

    /// @notice Fund the escrow of `orderId` with `amount` of an ERC-20 token (approved first).
    /// @dev The amount credited is the contract's balance increase, so fee-on-transfer tokens
    /// credit what actually arrived.
    /// @param orderId The order.
    /// @param seller The enrolled seller.
    /// @param token The ERC-20 token.
    /// @param amount The amount to transfer from the buyer.
    /// @param deadline The time after which an unreleased escrow can be refunded.
    function depositToken(
        bytes32 orderId,
        address seller,
        address token,
        uint256 amount,
        uint64 deadline
    ) external nonReentrant {
        if (token == address(0)) revert TradeEscrowZeroAddress();
        uint256 sellerId = _checkNewEscrow(orderId, seller, deadline);
        if (amount == 0) revert TradeEscrowZeroAmount();
        IERC20 erc20 = IERC20(token);
        uint256 before = erc20.balanceOf(address(this));
        erc20.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = erc20.balanceOf(address(this)) - before;
        _tokens[msg.sender][orderId] = token;
        _storeEscrow(orderId, seller, sellerId, token, received, deadline);
    }

    // ----------------------------------------------------------------- settlement

    /// @notice As the buyer, release the escrow of `orderId`: `toSeller` to the seller, the
    /// rest back to the buyer.
    /// @param orderId The order.
    /// @param toSeller The seller's share, at most the escrowed amount.
    function release(bytes32 orderId, uint256 toSeller) external {
        (uint256 escrow, address seller, uint256 amount) = _settle(
            msg.sender,
            orderId,
            toSeller,
            STATUS_RELEASED
        );
        emit Released(msg.sender, orderId, toSeller, amount - toSeller, false);
        _payOut(escrow, msg.sender, orderId, seller, toSeller, amount - toSeller);
    }

    /// @notice Release an escrow by proving that the log holds the acceptance record for it.
    /// @dev The acceptance leaf is rebuilt exactly as ledger/leaf.py encodes it, binding this
    /// chain, this contract, the order, both parties and the seller's share, and hashed as
    /// SHA-256(0x00 || leaf); its inclusion proof must lead to the root anchored for
    /// `treeSize`. Anyone may submit it.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param toSeller The seller's share written in the acceptance record.
    /// @param recordDigest SHA-256 of the signed acceptance record's canonical bytes.
    /// @param leafIndex The acceptance leaf's index in the log.
    /// @param treeSize An anchored tree size.
    /// @param proof The RFC 9162 inclusion proof of the leaf in that tree.
    function releaseWithProof(
        address buyer,
        bytes32 orderId,
        uint256 toSeller,
        bytes32 recordDigest,
        uint64 leafIndex,
        uint64 treeSize,
        bytes32[] calldata proof
    ) external {
        (uint256 escrow, address seller, uint256 amount) = _settle(
            buyer,
            orderId,
            toSeller,
            STATUS_RELEASED
        );
        bytes32 leafHash = _acceptanceLeafHash(orderId, buyer, seller, toSeller, recordDigest);
        _checkAnchoredInclusion(leafHash, leafIndex, treeSize, proof);
        emit Released(buyer, orderId, toSeller, amount - toSeller, true);
        _payOut(escrow, buyer, orderId, seller, toSeller, amount - toSeller);
    }

    /// @notice Refund an escrow to its buyer after the deadline, when nothing was released
    /// and no dispute is open. Anyone may call it.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    function refund(address buyer, bytes32 orderId) external {
        uint256 escrow = _escrows[buyer][orderId];
        _requireFunded(escrow, buyer, orderId);
        uint64 deadline = uint64(escrow >> _DEADLINE_SHIFT);
        if (block.timestamp <= deadline) revert TradeEscrowDeadlineNotReached(deadline, block.timestamp);
        _escrows[buyer][orderId] = _withStatus(escrow, STATUS_REFUNDED);
        uint256 amount = uint128(escrow);
        emit Refunded(buyer, orderId, amount);
        _pay(buyer, _tokenOf(escrow, buyer, orderId), amount);
    }

    /// @notice As the buyer or the seller, freeze an escrow until the arbiter resolves it.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    function openDispute(address buyer, bytes32 orderId) external {
        uint256 escrow = _escrows[buyer][orderId];
        _requireFunded(escrow, buyer, orderId);
        if (msg.sender != buyer && msg.sender != _sellerOf(escrow)) revert TradeEscrowNotParty(msg.sender);
        _escrows[buyer][orderId] = _withStatus(escrow, STATUS_DISPUTED);
        emit DisputeOpened(buyer, orderId, msg.sender);
    }

    /// @notice As the arbiter, split a disputed escrow: `toSeller` to the seller, the rest to
    /// the buyer.
    /// @param buyer The escrow's buyer.
    /// @param orderId The order.
    /// @param toSeller The seller's share, at most the escrowed amount.
    function resolveDispute(
        address buyer,
        bytes32 orderId,
        uint256 toSeller
    ) external onlyRole(ARBITER_ROLE) {
        uint256 escrow = _escrows[buyer][orderId];
        if (escrow == 0) revert TradeEscrowNotFound(buyer, orderId);
        uint8 status = uint8(escrow >> _STATUS_SHIFT);
        if (status != STATUS_DISPUTED) revert TradeEscrowWrongStatus(STATUS_DISPUTED, status);
        uint256 amount = uint128(escrow);
        if (toSeller > amount) revert TradeEscrowAmountExceeded(toSeller, amount);
        _escrows[buyer][orderId] = _withStatus(escrow, STATUS_RESOLVED);
        emit DisputeResolved(buyer, orderId, toSeller, amount - toSeller);
        _payOut(escrow, buyer, orderId, _sellerOf(escrow), toSeller, amount - toSeller);
    }

    /// @notice Withdraw the caller's credit in `token` (zero: the native coin).
    /// @param token The token, or zero for the native coin.
    function withdraw(address token) external nonReentrant {
        uint256 amount = _credits[msg.sender][token];
        if (amount == 0) revert TradeEscrowNothingToWithdraw(msg.sender, token);
        _credits[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount);
        if (token == address(0)) {
            (bool ok, ) = payable(msg.sender).call{value: amount}("");
            if (!ok) revert TradeEscrowWithdrawalFailed(msg.sender, amount);
        } else {
            IERC20(token).safeTransfer(msg.sender, amount);
        }
    }

    // ----------------------------------------------------------------- views

    /// @notice The escrow of (buyer, orderId).
    /// @param buyer The buyer.
    /// @param orderId The order.
    /// @return seller The seller (zero when there is no escrow).
    /// @return token The token, zero for the native coin.
    /// @return amount The escrowed amount.
    /// @return deadline The refund deadline.
    /// @return status 0 none, 1 funded, 2 disputed, 3 released, 4 refunded, 5 resolved.
    function escrowOf(
        address buyer,
        bytes32 orderId
    ) external view returns (address seller, address token, uint256 amount, uint64 deadline, uint8 status) {
        uint256 escrow = _escrows[buyer][orderId];
        if (escrow == 0) return (address(0), address(0), 0, 0, STATUS_NONE);
        seller = _sellerOf(escrow);
        token = _tokenOf(escrow, buyer, orderId);
        amount = uint128(escrow);
        deadline = uint64(escrow >> _DEADLINE_SHIFT);
        status = uint8(escrow >> _STATUS_SHIFT);
    }

    /// @notice The credit `account` can withdraw in `token` (zero: the native coin).
    /// @param account The account.
    /// @param token The token, or zero for the native coin.
    /// @return The withdrawable amount.
    function creditOf(address account, address token) external view returns (uint256) {
        return _credits[account][token];
    }

    // ----------------------------------------------------------------- internals

    /// @dev Checks shared by both deposits; returns the seller's member id.
    function _checkNewEscrow(bytes32 orderId, address seller, uint64 deadline) private view returns (uint256) {
        if (_members[msg.sender] & _ENROLLED == 0) revert TradeEscrowNotEnrolled(msg.sender);
        uint256 sellerMember = _members[seller];
        if (sellerMember & _ENROLLED == 0) revert TradeEscrowNotEnrolled(seller);
        if (seller == msg.sender) revert TradeEscrowSelfDealing(seller);
        if (deadline <= block.timestamp) revert TradeEscrowDeadlineInPast(deadline, block.timestamp);
        if (_escrows[msg.sender][orderId] != 0) revert TradeEscrowAlreadyExists(msg.sender, orderId);
        return uint32(sellerMember);
    }

    /// @dev Write a new funded escrow and announce it.
    function _storeEscrow(
        bytes32 orderId,
        address seller,
        uint256 sellerId,
        address token,
        uint256 amount,
        uint64 deadline
    ) private {
        if (amount == 0) revert TradeEscrowZeroAmount();
        if (amount > type(uint128).max) revert TradeEscrowAmountTooLarge(amount);
        uint256 escrow = amount |
            (uint256(deadline) << _DEADLINE_SHIFT) |
            (sellerId << _SELLER_SHIFT) |
            (uint256(STATUS_FUNDED) << _STATUS_SHIFT);
        if (token != address(0)) escrow |= _TOKEN_FLAG;
        _escrows[msg.sender][orderId] = escrow;
        emit Deposited(msg.sender, orderId, seller, token, amount, deadline);
    }

    /// @dev Move a funded escrow to `status` for a split; returns it, its seller and amount.
    function _settle(
        address buyer,
        bytes32 orderId,
        uint256 toSeller,
        uint8 status
    ) private returns (uint256 escrow, address seller, uint256 amount) {
        escrow = _escrows[buyer][orderId];
        _requireFunded(escrow, buyer, orderId);
        amount = uint128(escrow);
        if (toSeller > amount) revert TradeEscrowAmountExceeded(toSeller, amount);
        seller = _sellerOf(escrow);
        _escrows[buyer][orderId] = _withStatus(escrow, status);
    }

    /// @dev Revert unless the escrow exists and is funded (not disputed, not settled).
    function _requireFunded(uint256 escrow, address buyer, bytes32 orderId) private pure {
        if (escrow == 0) revert TradeEscrowNotFound(buyer, orderId);
        uint8 status = uint8(escrow >> _STATUS_SHIFT);
        if (status == STATUS_DISPUTED) revert TradeEscrowDisputed(buyer, orderId);
        if (status != STATUS_FUNDED) revert TradeEscrowWrongStatus(STATUS_FUNDED, status);
    }

    /// @dev The escrow word with its status replaced.
    function _withStatus(uint256 escrow, uint8 status) private pure returns (uint256) {
        return (escrow & ~_STATUS_MASK) | (uint256(status) << _STATUS_SHIFT);
    }

    /// @dev The seller's address from the member id in the escrow word.
    function _sellerOf(uint256 escrow) private view returns (address) {
        return _accounts[uint32(escrow >> _SELLER_SHIFT)];
    }

    /// @dev The escrow's token (zero for the native coin; read only for ERC-20 escrows).
    function _tokenOf(uint256 escrow, address buyer, bytes32 orderId) private view returns (address) {
        if (escrow & _TOKEN_FLAG == 0) return address(0);
        return _tokens[buyer][orderId];
    }

    /// @dev Pay both shares of a settlement.
    function _payOut(
        uint256 escrow,
        address buyer,
        bytes32 orderId,
        address seller,
        uint256 toSeller,
        uint256 toBuyer
    ) private {
        address token = _tokenOf(escrow, buyer, orderId);
        _pay(seller, token, toSeller);
        _pay(buyer, token, toBuyer);
    }

    /// @dev Push a payment; if the recipient refuses it, keep it as a withdrawable credit.
    function _pay(address to, address token, uint256 amount) private {
        if (amount == 0) return;
        bool ok;
        if (token == address(0)) {
            assembly ("memory-safe") {
                // Bounded gas and no return data copied: the recipient cannot grief the payer.
                ok := call(PAYMENT_GAS, to, amount, 0, 0, 0, 0)
            }
        } else {
            ok = IERC20(token).trySafeTransfer(to, amount);
        }
        if (!ok) {
            _credits[to][token] += amount;
            emit Credited(to, token, amount);
        }
    }

    /// @dev Revert unless `proof` includes `leafHash` at `leafIndex` in the anchored tree of
    /// `treeSize`.
    function _checkAnchoredInclusion(
        bytes32 leafHash,
        uint64 leafIndex,
        uint64 treeSize,
        bytes32[] calldata proof
    ) private view {
        bytes32 root = anchorRegistry.rootForSize(treeSize);
        if (root == bytes32(0)) revert TradeEscrowRootNotAnchored(treeSize);
        if (!RFC9162.verifyInclusion(leafIndex, treeSize, leafHash, proof, root)) {
            revert TradeEscrowInvalidProof();
        }
    }

    /// @dev SHA-256(0x00 || abi.encode(1, 10, chainid, this, orderId, buyer, seller,
    /// toSeller, recordDigest)): the hash of the acceptance leaf for this escrow.
    function _acceptanceLeafHash(
        bytes32 orderId,
        address buyer,
        address seller,
        uint256 toSeller,
        bytes32 recordDigest
    ) private view returns (bytes32 leafHash) {
        bool ok;
        assembly ("memory-safe") {
            // 0x00 prefix byte, then nine ABI words, in unallocated memory.
            let ptr := mload(0x40)
            mstore8(ptr, 0)
            mstore(add(ptr, 1), LEAF_VERSION)
            mstore(add(ptr, 33), LEAF_KIND_ACCEPTANCE)
            mstore(add(ptr, 65), chainid())
            mstore(add(ptr, 97), address())
            mstore(add(ptr, 129), orderId)
            // Addresses are masked: assembly sees a full word, whose high bits may be dirty.
            mstore(add(ptr, 161), shr(96, shl(96, buyer)))
            mstore(add(ptr, 193), shr(96, shl(96, seller)))
            mstore(add(ptr, 225), toSeller)
            mstore(add(ptr, 257), recordDigest)
            ok := staticcall(gas(), 0x02, ptr, 289, 0x00, 0x20)
            leafHash := mload(0x00)
        }
        if (!ok) revert RFC9162.RFC9162HashFailed();
    }
}
