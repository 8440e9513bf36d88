"""Browser tests: Playwright drives Debian's headless Chromium against a live server started by the test."""
