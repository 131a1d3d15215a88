"""Screenshots of the web app's main pages on the demo's data, for the README.

    .venv/bin/python docs/screenshots.py        # writes docs/screenshots/*.png; needs Chromium

Runs `leadrelay demo` into a scratch SQLite file, serves it on a free port, signs in with
the tokens the demo printed and saves each page as a PNG. Also prints each page's server
time (the median of five requests made over plain HTTP after the screenshots).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots"


def main() -> None:
    chromium = os.environ.get("LEADRELAY_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium (or set LEADRELAY_CHROMIUM)")
    folder = Path(tempfile.mkdtemp())
    leadrelay = Path(sys.executable).parent / "leadrelay"
    demo = json.loads(subprocess.run([str(leadrelay), "demo", "--database", f"sqlite:///{folder / 'demo.db'}",
                                      "--json"], check=True, capture_output=True, text=True).stdout)
    tokens = demo["web"]["tokens"]
    from leadrelay.bootstrap import bootstrap
    from leadrelay.entrypoints.server import create_app
    from leadrelay.playbook.loader import starter_playbook
    from leadrelay.settings import Settings

    app = bootstrap(Settings(database_url=f"sqlite:///{folder / 'demo.db'}"), playbook=starter_playbook())
    config = uvicorn.Config(create_app(app), host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    site = f"http://127.0.0.1:{port}"
    rep = next(secret for who, secret in tokens.items() if who.startswith("rep "))
    manager = next(secret for who, secret in tokens.items() if who.startswith("manager "))
    marketing, admin = tokens["marketing"], tokens["admin"]
    OUT.mkdir(exist_ok=True)
    from playwright.sync_api import sync_playwright

    pages: dict[str, tuple[str, str]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        for who, secret, shots, width in (("rep", rep, ("queue", "lead"), 1280), ("manager", manager, ("board", "team-dashboard"), 1280),
                                          ("marketing", marketing, ("dashboard", "playbook"), 1440),
                                          ("admin", admin, ("outbox", "rejections"), 1280),
                                          ("rep", rep, ("queue-phone",), 390)):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{site}/login")
            if who == "rep" and width > 800:
                page.screenshot(path=str(OUT / "login.png"))
            page.get_by_label("Your API token").fill(secret)
            page.get_by_role("button", name="Sign in").click()
            for shot in shots:
                if shot == "lead":
                    page.goto(f"{site}/")
                    page.locator("td a[href^='/leads/']").first.click()
                elif shot in ("board", "dashboard", "team-dashboard"):
                    page.goto(f"{site}/{shot.removeprefix('team-')}")
                elif shot in ("playbook", "outbox", "rejections"):
                    page.goto(f"{site}/ops/{shot}")
                elif shot == "queue-phone":
                    page.goto(f"{site}/")
                pages[shot] = (page.url, secret)
                if shot != "team-dashboard":  # long pages: their first screen is enough for the README
                    page.screenshot(path=str(OUT / f"{shot}.png"), full_page=shot not in ("playbook", "rejections"))
            page.close()
        browser.close()
    with httpx.Client(base_url=site) as client:
        for shot, (url, secret) in pages.items():
            client.cookies.clear()
            client.post("/login", data={"token": secret})
            times = []
            for _ in range(5):
                started = time.perf_counter()
                assert client.get(url.removeprefix(site)).status_code == 200
                times.append(time.perf_counter() - started)
            print(f"{shot:14} {url.removeprefix(site):16} {statistics.median(times) * 1000:6.0f} ms")
    server.should_exit = True
    thread.join()
    app.close()


if __name__ == "__main__":
    main()
