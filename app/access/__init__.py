"""Who may do what: users, sessions, tokens, paired devices, sign-in and the admin pages,
and the guards on every request (CSRF, throttles, security headers, body limits)."""
