// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title An ERC-20 token for tests: free minting, an optional transfer fee, a blocklist
/// @notice The fee (in basis points, burnt) makes the escrow's balance-delta accounting
/// observable; a blocked recipient makes transfers to it revert, like a stablecoin freeze.
contract TestToken is ERC20 {
    /// @notice A transfer to or from a blocked account.
    error TestTokenBlocked(address account);

    /// @notice The transfer fee in basis points, burnt from the amount sent.
    uint256 public feeBasisPoints;

    /// @notice Accounts that can neither send nor receive.
    mapping(address account => bool) public blocked;

    /// @notice Create the token.
    /// @param name_ The token's name.
    /// @param symbol_ The token's symbol.
    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Mint `amount` to `to` (anyone may; test only).
    /// @param to The recipient.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Set the transfer fee.
    /// @param basisPoints The fee in 1/10000 of the amount.
    function setFee(uint256 basisPoints) external {
        feeBasisPoints = basisPoints;
    }

    /// @notice Block or unblock an account.
    /// @param account The account.
    /// @param isBlocked Whether transfers to and from it revert.
    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    /// @dev Apply the blocklist and burn the fee on transfers (not on mints or burns).
    function _update(address from, address to, uint256 value) internal override {
        if (blocked[from]) revert TestTokenBlocked(from);
        if (blocked[to]) revert TestTokenBlocked(to);
        if (from != address(0) && to != address(0) && feeBasisPoints != 0) {
            uint256 fee = (value * feeBasisPoints) / 10_000;
            super._update(from, address(0), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
