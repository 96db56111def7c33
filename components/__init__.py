"""Reusable pieces of the private LLM serving platform (see ../shared/DESIGN.md)."""
