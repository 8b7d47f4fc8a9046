"""Loopback simulators of the external APIs (Hotmart, later Meta), for tests and demo mode."""
