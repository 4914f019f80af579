"""Points (积分): `ledger` holds the double-entry ledger — accounts, transfers, two-phase holds, corrections."""
