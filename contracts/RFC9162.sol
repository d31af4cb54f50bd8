// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title RFC 9162 (RFC 6962) Merkle tree verification with the SHA-256 precompile
/// @notice Leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right).
/// Inclusion and consistency proofs are verified exactly as RFC 9162 §2.1.3.2 and §2.1.4.2
/// describe, so a proof of the wrong length is refused, never silently accepted.
/// @dev Every hash is one `staticcall` to the SHA-256 precompile (address 0x02) on memory
/// past the free memory pointer, which is never allocated: the precompile costs
/// 60 + 12 per word, far less than `sha256(abi.encodePacked(...))` with its copies.
/// Functions return `false` when the roots do not match and revert when the proof is
/// malformed for its sizes (wrong length, index outside the tree, sizes out of order).
library RFC9162 {
    /// @notice A proof with `got` hashes where the sizes require `want`.
    error RFC9162ProofSizeMismatch(uint256 got, uint256 want);

    /// @notice A leaf index at or beyond the tree size.
    error RFC9162IndexOutOfRange(uint256 index, uint256 size);

    /// @notice A consistency proof asked from a larger tree to a smaller one.
    error RFC9162SizesOutOfOrder(uint256 size1, uint256 size2);

    /// @notice The SHA-256 precompile failed (only when out of gas).
    error RFC9162HashFailed();

    /// @notice SHA-256(0x00 || data): the hash of a leaf.
    /// @param data The leaf bytes.
    /// @return digest The leaf hash.
    function hashLeaf(bytes memory data) internal view returns (bytes32 digest) {
        bool ok;
        assembly ("memory-safe") {
            let len := mload(data)
            let ptr := mload(0x40)
            mstore8(ptr, 0)
            // Copy the data word by word after the prefix byte; the bytes past the end are
            // scratch (never allocated) and not part of the hashed range.
            for { let i := 0 } lt(i, len) { i := add(i, 32) } {
                mstore(add(add(ptr, 1), i), mload(add(add(data, 32), i)))
            }
            ok := staticcall(gas(), 0x02, ptr, add(len, 1), 0x00, 0x20)
            digest := mload(0x00)
        }
        if (!ok) revert RFC9162HashFailed();
    }

    /// @notice SHA-256(0x01 || left || right): the hash of an interior node.
    /// @param left The left child's hash.
    /// @param right The right child's hash.
    /// @return digest The node hash.
    function hashChildren(bytes32 left, bytes32 right) internal view returns (bytes32 digest) {
        bool ok;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            ok := staticcall(gas(), 0x02, ptr, 65, 0x00, 0x20)
            digest := mload(0x00)
        }
        if (!ok) revert RFC9162HashFailed();
    }

    /// @notice The root implied by an inclusion proof (RFC 9162 §2.1.3.2).
    /// @dev Requires `index < size` and `proof.length` equal to the length the RFC implies
    /// for `(index, size)`; reverts otherwise.
    /// @param index The leaf's index.
    /// @param size The tree size the proof is for.
    /// @param leafHash The leaf's hash, SHA-256(0x00 || leaf).
    /// @param proof The inclusion path, from the leaf upwards.
    /// @return root The root the proof leads to.
    function rootFromInclusionProof(
        uint256 index,
        uint256 size,
        bytes32 leafHash,
        bytes32[] calldata proof
    ) internal view returns (bytes32 root) {
        if (index >= size) revert RFC9162IndexOutOfRange(index, size);
        // status: 0 ok, 1 wrong length, 2 precompile failure
        uint256 status;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 1)
            let fn := index
            let sn := sub(size, 1)
            let r := leafHash
            let p := proof.offset
            let end := add(p, shl(5, proof.length))
            for {} lt(p, end) { p := add(p, 0x20) } {
                if iszero(sn) {
                    status := 1
                    break
                }
                let c := calldataload(p)
                switch or(and(fn, 1), eq(fn, sn))
                case 0 {
                    mstore(add(ptr, 1), r)
                    mstore(add(ptr, 33), c)
                }
                default {
                    mstore(add(ptr, 1), c)
                    mstore(add(ptr, 33), r)
                    // On the right border (fn == sn, even): climb to the next left child.
                    for {} and(iszero(and(fn, 1)), gt(fn, 0)) {} {
                        fn := shr(1, fn)
                        sn := shr(1, sn)
                    }
                }
                if iszero(staticcall(gas(), 0x02, ptr, 65, 0x00, 0x20)) {
                    status := 2
                    break
                }
                r := mload(0x00)
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            if and(iszero(status), gt(sn, 0)) { status := 1 }
            root := r
        }
        if (status == 1) revert RFC9162ProofSizeMismatch(proof.length, inclusionProofSize(index, size));
        if (status == 2) revert RFC9162HashFailed();
    }

    /// @notice Whether `proof` proves `leafHash` at `index` in the tree `(size, root)`.
    /// @dev Reverts on a malformed proof (see `rootFromInclusionProof`).
    /// @param index The leaf's index.
    /// @param size The tree size.
    /// @param leafHash The leaf's hash.
    /// @param proof The inclusion path.
    /// @param root The tree's root.
    /// @return True when the proof leads to `root`.
    function verifyInclusion(
        uint256 index,
        uint256 size,
        bytes32 leafHash,
        bytes32[] calldata proof,
        bytes32 root
    ) internal view returns (bool) {
        return rootFromInclusionProof(index, size, leafHash, proof) == root;
    }

    /// @notice Whether `proof` proves that the tree `(size2, root2)` extends `(size1, root1)`
    /// (RFC 9162 §2.1.4.2).
    /// @dev Reverts when `size1 > size2` or the proof length is not the one the sizes imply
    /// (empty when `size1` is 0 or equals `size2`).
    /// @param size1 The older tree size.
    /// @param size2 The newer tree size.
    /// @param root1 The older root.
    /// @param root2 The newer root.
    /// @param proof The consistency proof.
    /// @return True when both roots are reproduced.
    function verifyConsistency(
        uint256 size1,
        uint256 size2,
        bytes32 root1,
        bytes32 root2,
        bytes32[] calldata proof
    ) internal view returns (bool) {
        if (size1 > size2) revert RFC9162SizesOutOfOrder(size1, size2);
        if (size1 == size2 || size1 == 0) {
            if (proof.length != 0) revert RFC9162ProofSizeMismatch(proof.length, 0);
            // Every tree extends the empty one: root1 is not compared with the empty-tree
            // hash (as ledger.merkle and transparency-dev/merkle do).
            return size1 == 0 || root1 == root2;
        }
        bool hashed;
        bool matched;
        uint256 left;
        assembly ("memory-safe") {
            // Scratch layout: the 0x01 node prefix is the last byte of word 0x00, the left
            // child is at 0x20 and the right child at 0x40, so SHA-256 reads 65 bytes from
            // 0x1f and writes its digest over the child it replaces. The free memory pointer
            // (0x40) is restored afterwards.
            let fmp := mload(0x40)
            mstore(0x00, 1)
            let p := proof.offset
            let fn := sub(size1, 1)
            let sn := sub(size2, 1)
            let fr := root1
            // Not an exact power of two: the chain starts at the proof's first hash (RFC step 2).
            if and(size1, fn) {
                fr := calldataload(p)
                p := add(p, 0x20)
            }
            for {} and(fn, 1) {} {
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            let sr := fr
            hashed := 1
            // While fn != sn (RFC step 6 before the right border), one proof hash per level:
            // when fn's low bit is set it is the left sibling of both fr and sr, otherwise the
            // right sibling of sr. sn > fn here, so sn is never 0 inside this loop.
            for {} xor(fn, sn) {} {
                switch and(fn, 1)
                case 0 {
                    mstore(0x20, sr)
                    mstore(0x40, calldataload(p))
                    hashed := and(hashed, staticcall(gas(), 0x02, 0x1f, 65, 0x20, 0x20))
                    sr := mload(0x20)
                }
                default {
                    mstore(0x20, calldataload(p))
                    mstore(0x40, fr)
                    hashed := and(hashed, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                    fr := mload(0x40)
                    mstore(0x40, sr)
                    hashed := and(hashed, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                    sr := mload(0x40)
                }
                p := add(p, 0x20)
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
            // fn == sn: on the right border every remaining hash is the left sibling of both,
            // one per set bit of fn (the RFC's climb past the zero bits consumes no hash).
            for {} fn {} {
                for {} iszero(and(fn, 1)) {} { fn := shr(1, fn) }
                mstore(0x20, calldataload(p))
                mstore(0x40, fr)
                hashed := and(hashed, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                fr := mload(0x40)
                mstore(0x40, sr)
                hashed := and(hashed, staticcall(gas(), 0x02, 0x1f, 65, 0x40, 0x20))
                sr := mload(0x40)
                p := add(p, 0x20)
                fn := shr(1, fn)
            }
            mstore(0x40, fmp)
            left := sub(add(proof.offset, shl(5, proof.length)), p)
            matched := and(eq(fr, root1), eq(sr, root2))
        }
        if (left != 0) {
            revert RFC9162ProofSizeMismatch(proof.length, consistencyProofSize(size1, size2));
        }
        if (!hashed) revert RFC9162HashFailed();
        return matched;
    }

    /// @notice The number of hashes in the inclusion proof of `index` in a tree of `size`.
    /// @dev Requires `index < size`. Used to report a wrong length, not on the success path.
    /// @param index The leaf's index.
    /// @param size The tree size.
    /// @return The proof length.
    function inclusionProofSize(uint256 index, uint256 size) internal pure returns (uint256) {
        uint256 inner = _bitLength(index ^ (size - 1));
        return inner + _popCount(index >> inner);
    }

    /// @notice The number of hashes in the consistency proof from `size1` to `size2`.
    /// @dev Requires `0 < size1 < size2`. Used to report a wrong length.
    /// @param size1 The older tree size.
    /// @param size2 The newer tree size.
    /// @return The proof length.
    function consistencyProofSize(uint256 size1, uint256 size2) internal pure returns (uint256) {
        uint256 inner = _bitLength((size1 - 1) ^ (size2 - 1));
        uint256 border = _popCount((size1 - 1) >> inner);
        uint256 shift = _bitLength(size1 & (~size1 + 1)) - 1;
        uint256 start = size1 == (uint256(1) << shift) ? 0 : 1;
        return start + (inner - shift) + border;
    }

    /// @dev The number of bits needed to write `x` (0 for 0).
    function _bitLength(uint256 x) private pure returns (uint256 n) {
        while (x != 0) {
            x >>= 1;
            // n counts the shifts of a 256-bit value: at most 256, it cannot overflow.
            unchecked {
                ++n;
            }
        }
    }

    /// @dev The number of set bits in `x`.
    function _popCount(uint256 x) private pure returns (uint256 n) {
        while (x != 0) {
            x &= x - 1;
            // At most 256 set bits: the counter cannot overflow.
            unchecked {
                ++n;
            }
        }
    }
}
