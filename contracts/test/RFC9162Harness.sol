// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RFC9162} from "../RFC9162.sol";

/// @title Test harness exposing the RFC9162 library's internal functions
/// @notice Used only by the tests, which compare it with the Python implementation.
contract RFC9162Harness {
    /// @notice See {RFC9162.hashLeaf}.
    /// @param data The leaf bytes.
    /// @return The leaf hash.
    function hashLeaf(bytes calldata data) external view returns (bytes32) {
        return RFC9162.hashLeaf(data);
    }

    /// @notice See {RFC9162.hashChildren}.
    /// @param left The left child's hash.
    /// @param right The right child's hash.
    /// @return The node hash.
    function hashChildren(bytes32 left, bytes32 right) external view returns (bytes32) {
        return RFC9162.hashChildren(left, right);
    }

    /// @notice See {RFC9162.rootFromInclusionProof}.
    /// @param index The leaf's index.
    /// @param size The tree size.
    /// @param leafHash The leaf's hash.
    /// @param proof The inclusion path.
    /// @return The implied root.
    function rootFromInclusionProof(
        uint256 index,
        uint256 size,
        bytes32 leafHash,
        bytes32[] calldata proof
    ) external view returns (bytes32) {
        return RFC9162.rootFromInclusionProof(index, size, leafHash, proof);
    }

    /// @notice See {RFC9162.verifyInclusion}.
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
    ) external view returns (bool) {
        return RFC9162.verifyInclusion(index, size, leafHash, proof, root);
    }

    /// @notice See {RFC9162.verifyConsistency}.
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
    ) external view returns (bool) {
        return RFC9162.verifyConsistency(size1, size2, root1, root2, proof);
    }

    /// @notice See {RFC9162.inclusionProofSize}.
    /// @param index The leaf's index.
    /// @param size The tree size.
    /// @return The proof length.
    function inclusionProofSize(uint256 index, uint256 size) external pure returns (uint256) {
        return RFC9162.inclusionProofSize(index, size);
    }

    /// @notice See {RFC9162.consistencyProofSize}.
    /// @param size1 The older tree size.
    /// @param size2 The newer tree size.
    /// @return The proof length.
    function consistencyProofSize(uint256 size1, uint256 size2) external pure returns (uint256) {
        return RFC9162.consistencyProofSize(size1, size2);
    }
}
