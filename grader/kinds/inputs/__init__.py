"""medgrade's input kinds, one module each."""
