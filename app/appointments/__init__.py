"""Appointments: the day's schedule, its import and export, the kiosk look-ups, no-shows."""
