"""Models of the refunds app (built in a later issue)."""
