"""Tests that span apps (the browser walk-throughs live in tests/browser)."""
