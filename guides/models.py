"""Models of the guides app (built in a later issue)."""
