"""Models of the badges app (built in a later issue)."""
