#!/usr/bin/env bash
# Create the project's virtual environment with the build tools the package
# needs (the package itself is installed by `make pyinstall`).
set -euo pipefail
venv=${1:?usage: venv.sh DIR}
python=${PYTHON:-python3}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "Cython>=3.0" "setuptools>=77" wheel
