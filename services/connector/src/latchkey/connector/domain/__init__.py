"""Pure connector logic: admitting commands, remembering executed ones, sealing, inventory diffs."""
