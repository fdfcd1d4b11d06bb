"""Fakes of external services at the HTTP boundary (the libraries' own code still runs)."""
