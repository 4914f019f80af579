"""End-to-end tests: the real processes and a real browser (see README.md in this folder)."""
