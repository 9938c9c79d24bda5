"""What the front desk does beyond moving visits: its records on a visit (records.py, its
API in routes.py), the lobby's broadcast message (messages.py), kiosks' calls for help."""
