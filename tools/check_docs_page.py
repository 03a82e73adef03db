#!/usr/bin/env python3
"""Checks that a live server's /docs page renders in a real browser (headless Chromium).

Usage: check_docs_page.py --chromium BIN --openapi openapi.yaml --base http://HOST:PORT
                          [--screenshot PATH]

/docs is an HTML shell with Redoc inlined; Redoc fetches `openapi.yaml` (relative URL) and
renders it in the browser. The raw HTML holds none of the spec's text, so finding that text
in the rendered DOM (outside <script>/<style>) proves that the script ran, the spec loaded
and parsed, and Redoc rendered it (the served HTML is checked not to contain it). What must
be there comes from the spec itself:
- on the overview page, the API's title with its version, as Redoc's heading shows it, and
  every tag;
- on the page of each tag (`/docs#/TAG`), the summary of each of its operations.

The browser can reach the server and nothing else (every other host name fails to resolve),
so this also checks that the page needs no CDN. (Redoc 3 still tries two hosts: its
attribution logo, cdn.redoc.ly, which it hides when unreachable, and its telemetry,
otel.cloud.redocly.com; neither is needed to render.)

The screenshot is for people to look at; it is only checked to be a PNG of the requested size
with some content. It is of the overview: headless Chromium's screenshot of a page that has
scrolled to a `#/...` anchor shows the content shifted down by the scroll offset.
"""

from __future__ import annotations

import argparse
import html
import html.parser
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
WINDOW = (1400, 1000)
# Per Chromium run; a page that renders takes a few seconds.
TIMEOUT = 90


class VisibleText(html.parser.HTMLParser):
    """The text of a document that a page shows: outside script, style, template and title."""

    SKIP = {"script", "style", "template", "noscript", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)

    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.parts)).strip()


def visible_text(dom: str) -> str:
    parser = VisibleText()
    parser.feed(dom)
    parser.close()
    return parser.text()


class Browser:
    def __init__(self, binary: str, base: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        host = urlsplit(base).hostname
        self.flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--no-proxy-server",
            # Offline but for the server: any other host name fails to resolve.
            f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            # Let the page run for up to 15 s of (virtual) time before the DOM is taken.
            "--virtual-time-budget=15000",
        ]
        self.runs = 0

    def run(self, *args: str) -> str:
        self.runs += 1
        profile = self.workdir / f"profile-{self.runs}"  # a fresh profile every time
        cmd = [self.binary, *self.flags, f"--user-data-dir={profile}", *args]
        # In a session of its own, so that its helper processes go with it on a time-out.
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        ) as proc:
            try:
                out, err = proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                sys.exit(f"check_docs_page: Chromium took longer than {TIMEOUT} s: {' '.join(cmd)}")
        if proc.returncode != 0:
            sys.exit(f"check_docs_page: {' '.join(cmd)} exited {proc.returncode}:\n{err[-3000:]}")
        return out

    def dom(self, url: str) -> str:
        return self.run("--dump-dom", url)

    def screenshot(self, url: str, path: Path) -> None:
        self.run(f"--screenshot={path}", url)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        sys.exit(f"check_docs_page: {path} is not a PNG")
    return struct.unpack(">II", data[16:24])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--openapi", required=True)
    ap.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    ap.add_argument("--screenshot", type=Path, help="where to write a PNG of the overview")
    args = ap.parse_args()

    with open(args.openapi, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    info = spec["info"]
    tags = [t["name"] for t in spec.get("tags", [])]
    summaries: dict[str, list[str]] = {t: [] for t in tags}
    for item in spec["paths"].values():
        for method, op in item.items():
            if method in METHODS:
                for tag in op.get("tags", []):
                    summaries.setdefault(tag, []).append(op["summary"])

    docs = args.base.rstrip("/") + "/docs"
    heading = f"{info['title']} ({info['version']})"
    pages = {"overview": (docs, [heading, *tags])}
    pages.update({f"#/{t}": (f"{docs}#/{t}", s) for t, s in summaries.items()})

    failures = []
    # Only rendering can put these texts on the page: the HTML as served holds none of them.
    with urllib.request.urlopen(docs, timeout=30) as r:
        served = r.read().decode("utf-8")
    for text in [heading, *(s for ss in summaries.values() for s in ss)]:
        if text in served or html.escape(text) in served:
            failures.append((docs, [f"no {text!r} in the HTML as served"], ""))
    with tempfile.TemporaryDirectory(prefix="docs-page-") as tmp:
        browser = Browser(args.chromium, args.base, Path(tmp))
        for name, (url, expected) in pages.items():
            text = visible_text(browser.dom(url))
            missing = [e for e in expected if e not in text]
            print(f"{name}: {len(expected) - len(missing)}/{len(expected)} expected texts rendered")
            if missing:
                failures.append((url, missing, text))
                if name == "overview":
                    break  # the tag pages would fail the same way
        if args.screenshot:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            shot = Path(tmp) / "shot.png"
            browser.screenshot(docs, shot)
            size = png_size(shot)
            if size != WINDOW:
                failures.append((docs, [f"a {WINDOW[0]}x{WINDOW[1]} screenshot, not {size}"], ""))
            # An empty page compresses to a few KB; a rendered one is far larger.
            if shot.stat().st_size < 30_000:
                failures.append((docs, [f"a screenshot with content ({shot.stat().st_size} B)"], ""))
            shutil.copyfile(shot, args.screenshot)
            print(f"screenshot of {docs}: {args.screenshot} ({size[0]}x{size[1]})")

    for url, missing, text in failures:
        print(f"check_docs_page: {url} does not show {missing}", file=sys.stderr)
        if text:
            print(f"  its rendered text begins: {text[:1500]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
