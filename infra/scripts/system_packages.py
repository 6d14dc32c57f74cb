"""Install the Debian packages the suite drives (with apt, only when missing): `python
system_packages.py run` for `make run`, `... test` for `make test`.

- chromium: the real browser the browser tests drive through Playwright (`executable_path`).
- docker-compose: validates docker-compose.yml (no container engine is needed for `config`).
- apertium-apy, apertium-eng-spa: the local machine-translation server and its English-Spanish data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# What `make run` needs, and what `make test` needs on top.
FOR_RUN = {
    "apertium-apy": "/usr/bin/apertium-apy",
    "apertium-eng-spa": "/usr/share/apertium/modes/spa-eng.mode",
}
FOR_TEST = {**FOR_RUN, "chromium": "/usr/bin/chromium", "docker-compose": "/usr/bin/docker-compose"}


def main() -> None:
    needed = FOR_TEST if sys.argv[1:] == ["test"] else FOR_RUN
    missing = [package for package, path in needed.items() if not os.path.exists(path)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"missing {missing}: install them with your system's package manager")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"+ apt-get install {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    main()
