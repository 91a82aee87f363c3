"""What the headless `keys list` path leaves out at start-up: httpx's own command-line client (click,
rich, pygments) and the CA file for a plain http:// base URL; and that an https:// one still checks
certificates."""

from __future__ import annotations

import ssl
import subprocess
import sys

from capit_tui.platforms.base import _verify_for


def test_the_platform_layer_does_not_load_httpx_command_line_client():
    probe = ("import sys, capit_tui.platforms.openrouter, httpx\n"
             "print(' '.join(m for m in ('httpx._main', 'click', 'pygments') if sys.modules.get(m) is not None))\n"
             "print(callable(httpx.main))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["", "True"]


def test_plain_http_loads_no_ca_file_and_https_keeps_checking_certificates():
    bare = _verify_for("http://127.0.0.1:8080/api/v1")
    assert isinstance(bare, ssl.SSLContext)
    assert bare.cert_store_stats()["x509_ca"] == 0  # trusts nothing: TLS through it would fail closed
    assert bare.verify_mode == ssl.CERT_REQUIRED and bare.check_hostname
    assert _verify_for("https://openrouter.ai/api/v1") is True  # httpx's default: certifi, verified
