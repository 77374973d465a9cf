"""What hashing a queued photo costs the upload form in headless Chromium: WebCrypto against js-sha256.

    .venv/bin/python bench/queue_hashing.py            # 3 and 12 MiB photos, 5 rounds each
    .venv/bin/python bench/queue_hashing.py --quick    # 3 MiB only, 3 rounds

Before sending, the form hashes every photo to ask the server which it has.
In a secure context that is WebCrypto's digest; over plain HTTP the form
falls back to the vendored js-sha256, read in 4 MiB slices as queue.js does.
Prints the median ms of each per photo size and the fallback's cost as a
ratio, after checking both give the same hex. Debian's Chromium, a page
served by Python's http.server on 127.0.0.1 (a secure context, so both run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENDORED = REPO / "templates" / "static" / "vendor" / "js-sha256" / "sha256.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]
PAGE = '<!doctype html><meta charset="utf-8"><script src="sha256.min.js"></script><p>bench</p>'

# Times one digest of each kind over the same pseudo-random bytes; returns [webcrypto ms, js-sha256 ms, same hex].
MEASURE = """async (mib) => {
  const data = new Uint8Array(mib * 1024 * 1024);
  let x = 2463534242;
  for (let i = 0; i < data.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 255; }
  const blob = new Blob([data]);
  const hex = b => [...new Uint8Array(b)].map(v => v.toString(16).padStart(2, "0")).join("");
  let t = performance.now();
  const native = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const webcrypto = performance.now() - t;
  t = performance.now();
  const hash = sha256.create();
  for (let at = 0; at < blob.size; at += 4 * 1024 * 1024) {
    hash.update(await blob.slice(at, at + 4 * 1024 * 1024).arrayBuffer());
  }
  const fallback = hash.hex();
  return [webcrypto, performance.now() - t, native === fallback];
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No request lines: the figures are the output."""


@contextlib.contextmanager
def serve(folder: Path):
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 MiB only, 3 rounds")
    args = parser.parse_args()
    sizes, rounds = ([3], 3) if args.quick else ([3, 12], 5)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        folder = Path(temp)
        (folder / "index.html").write_text(PAGE, encoding="utf-8")
        shutil.copy(VENDORED, folder / "sha256.min.js")
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        with serve(folder) as url:
            page = browser.new_page()
            page.goto(url + "/index.html")
            for mib in sizes:
                runs = [page.evaluate(MEASURE, mib) for _ in range(rounds)]
                if not all(same for _, _, same in runs):
                    print(f"{mib} MiB: js-sha256 and WebCrypto disagree", file=sys.stderr)
                    return 1
                native = statistics.median(run[0] for run in runs)
                fallback = statistics.median(run[1] for run in runs)
                print(
                    f"{mib:>3} MiB photo: WebCrypto {native:7.1f} ms, js-sha256 {fallback:7.1f} ms "
                    f"(median of {rounds}; the fallback takes {fallback / native:.1f}x as long)"
                )
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
