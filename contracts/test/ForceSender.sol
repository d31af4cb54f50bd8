// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Forces native coin into a contract that has no receive function
/// @notice Models the "1-wei top-up" an attacker can force on any contract, to show that the
/// escrow's accounting never depends on its own balance.
contract ForceSender {
    /// @notice Send `msg.value` to `to` by self-destructing; no code of `to` runs.
    /// @param to The recipient.
    function forceSend(address payable to) external payable {
        selfdestruct(to);
    }
}
