"""Training side of the recogniser. Serving code never imports this package."""
