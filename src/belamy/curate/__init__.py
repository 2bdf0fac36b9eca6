"""Curation: decisions on candidates (keep / reject), a learned taste, and rankings by it."""
