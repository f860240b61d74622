"""scones package."""
