"""Issue 12 item 1: without a browser the browser tests are skipped with the reason (a fresh
machine's `make test` passes); with FANOPS_REQUIRE_BROWSER=1 (CI) they fail instead."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TEST = "tests/campaigns/test_browser.py"


def _run_browser_test_without_chromium(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "FANOPS_REQUIRE_BROWSER"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", BROWSER_TEST],
        cwd=ROOT,
        env={**base, "CHROMIUM": "/nonexistent/chromium", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_browser_tests_are_skipped_with_the_reason_when_no_chromium_is_found():
    run = _run_browser_test_without_chromium()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert "browser test: Chromium not found at /nonexistent/chromium" in run.stdout


def test_a_missing_browser_fails_when_fanops_require_browser_is_set():
    run = _run_browser_test_without_chromium(FANOPS_REQUIRE_BROWSER="1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout
    assert "FANOPS_REQUIRE_BROWSER=1 but Chromium not found at /nonexistent/chromium" in run.stdout
