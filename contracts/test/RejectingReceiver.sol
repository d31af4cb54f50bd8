// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title A contract account that can refuse native-coin payments
/// @notice Acts as a buyer or seller through `execute`; while `rejecting`, every payment to
/// it reverts, as a broken or hostile wallet would.
contract RejectingReceiver {
    /// @notice The receiver refused a payment.
    error RejectingReceiverRefused(uint256 amount);

    /// @notice Whether incoming payments revert.
    bool public rejecting = true;

    /// @notice Start or stop refusing payments.
    /// @param value True to refuse.
    function setRejecting(bool value) external {
        rejecting = value;
    }

    /// @notice Call `target` with `data` and `msg.value`, bubbling up any revert.
    /// @param target The contract to call.
    /// @param data The calldata.
    /// @return result The call's return data.
    function execute(address target, bytes calldata data) external payable returns (bytes memory result) {
        bool ok;
        (ok, result) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result))
            }
        }
    }

    /// @notice Accept or refuse a payment.
    receive() external payable {
        if (rejecting) revert RejectingReceiverRefused(msg.value);
    }
}
