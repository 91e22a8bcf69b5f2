"""Headless Chromium driven by Playwright: for the report's screenshot and its tests.

The browser is Debian's ``chromium`` (``apt-get install chromium``), never one that
Playwright downloads: the flags keep it off the network (no background updates,
sync or first-run calls), so a page that asks for anything outside itself shows
up as a request, not as silent traffic from the browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from echobench.servers._errors import UserError

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI and containers run as root, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
)
VIEWPORT = {"width": 1400, "height": 1000}


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def unavailable() -> str | None:
    """Why no browser can be had here (naming what to install), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python package playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no chromium browser found (apt-get install chromium)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on leaving."""
    why = unavailable()
    if why is not None:
        raise UserError(why)
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            # Playwright gives every launch a fresh temporary profile (user data dir).
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=list(FLAGS), headless=True
            )
        except Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no reason given"
            raise UserError(f"chromium did not start: {first}") from None
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page_path: Path, png_path: Path, full_page: bool = False) -> None:
    """What a reader sees on opening ``page_path`` (the top, or the whole page)."""
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(page_path.resolve().as_uri())
        png_path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(png_path), full_page=full_page)
