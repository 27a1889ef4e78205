"""Page forms: they parse input only; the rules live in the services."""
