"""medgrade's output kinds, one module each."""
