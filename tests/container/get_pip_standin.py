# Stand-in for get-pip.py, seeded by tests/ansible-test.sh into ansible-test's cache
# (~/.ansible/test/cache/get_pip_X_Y.py) when no real one is cached there.
#
# Why: with --venv, ansible-test bootstraps pip into each virtual environment it makes
# with get-pip.py, which it downloads from a host that is not reachable here (only the
# package index is). ansible-test runs this file as __main__ inside the new, pip-less
# virtual environment, with pip options and packages (e.g. "pip==24.2") as arguments,
# plus --no-setuptools/--no-wheel. Like get-pip.py, we run pip from a wheel on sys.path
# (the pip wheel bundled with the interpreter's ensurepip) and install the requested
# packages from the package index.
"""Install the requested pip into the running interpreter without get-pip.py."""

from __future__ import annotations

import glob
import os
import sys


def bundled_pip_wheel() -> str:
    """Return the path of the pip wheel that ships with this interpreter's ensurepip."""
    import ensurepip  # pylint: disable=import-outside-toplevel

    wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled', 'pip-*.whl')))
    # Debian's own Python has them apart (python3-pip-whl, a dependency of python3-venv).
    wheels = wheels or sorted(glob.glob('/usr/share/python-wheels/pip-*.whl'))

    if not wheels:
        sys.exit('get-pip stand-in: this Python has no bundled pip wheel (ensurepip); cannot bootstrap pip')

    return wheels[-1]


def main() -> None:
    """Bootstrap pip the way get-pip.py does, from the bundled wheel."""
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]

    sys.path.insert(0, bundled_pip_wheel())

    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel,import-error

    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall'] + args))


if __name__ == '__main__':
    main()
