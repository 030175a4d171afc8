"""The local stack: every service as a process on 127.0.0.1, state under .clickpulse/."""
