"""Server-rendered dashboard."""
