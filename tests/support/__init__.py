"""Test-only helpers: local stand-ins that sit next to dynalite and moto server."""
