#!/bin/sh
# bentofile.yaml `docker.setup_script`: runs once as root while the image is built, after the Python
# packages are installed. It writes the script of the HEALTHCHECK (see Dockerfile.template beside it),
# which must find the port as `bentoml serve` does: the serve command's --port/-p if given, else PORT
# (BentoML's entrypoint copies it to BENTOML_PORT), else BENTOML_PORT, else BentoML's 3000.
set -eu
cat > /usr/local/bin/sentiment-healthcheck <<'SCRIPT'
#!/usr/bin/env python3
import os
import sys
import urllib.request

with open("/proc/1/cmdline", "rb") as handle:
    args = handle.read().decode(errors="replace").split("\0")
given = [arg.split("=", 1)[1] for arg in args if arg.startswith("--port=")]
given += [value for flag, value in zip(args, args[1:]) if flag in ("--port", "-p")]
port = (given or [os.environ.get("PORT") or os.environ.get("BENTOML_PORT") or "3000"])[0]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=4):
        pass
except OSError as error:
    sys.exit(f"not ready on port {port}: {error}")
SCRIPT
chmod 755 /usr/local/bin/sentiment-healthcheck
