// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title A contract account that tries to re-enter the escrow when it is paid
/// @notice Acts as a buyer or seller through `execute`. When paid, it calls `target` again
/// with the armed calldata (once) and reports the outcome in `ReentryAttempted`.
contract ReentrantAttacker {
    /// @notice The attacker tried to re-enter.
    /// @param success Whether the re-entrant call succeeded.
    /// @param returnData Its return or revert data.
    event ReentryAttempted(bool success, bytes returnData);

    /// @notice The contract to re-enter.
    address public target;

    /// @notice The calldata of the re-entrant call (empty: just accept payments).
    bytes public reentryData;

    /// @notice Arm the attack: the next payment triggers one re-entrant call.
    /// @param target_ The contract to re-enter.
    /// @param data The calldata to send it.
    function arm(address target_, bytes calldata data) external {
        target = target_;
        reentryData = data;
    }

    /// @notice Call `target_` with `data` and `msg.value`, bubbling up any revert.
    /// @param target_ The contract to call.
    /// @param data The calldata.
    /// @return result The call's return data.
    function execute(address target_, bytes calldata data) external payable returns (bytes memory result) {
        bool ok;
        (ok, result) = target_.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    /// @notice On payment, disarm and try the re-entrant call once.
    receive() external payable {
        bytes memory data = reentryData;
        if (data.length == 0) return;
        delete reentryData;
        (bool ok, bytes memory result) = target.call(data);
        emit ReentryAttempted(ok, result);
    }
}
