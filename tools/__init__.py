"""Offline tooling for the platform: render, check and capacity (DESIGN.md section 5)."""
