"""Benchmarks for a running Lobbyline server: `python -m bench --url URL` (see README)."""
