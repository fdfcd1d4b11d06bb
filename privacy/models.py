"""Models of the privacy app (built in a later issue)."""
