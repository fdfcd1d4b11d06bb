"""Models of the lostfound app (built in a later issue)."""
