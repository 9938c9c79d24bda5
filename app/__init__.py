"""Lobbyline: a real-time patient queue and waiting-room display system."""
