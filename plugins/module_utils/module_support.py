# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every pynet module shares: common arguments, errors and results."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from ansible_collections.pynet.libnetwork.plugins.module_utils import bytecode

# Before the rest of the library is imported: what follows, here and in the module, is compiled once per host.
bytecode.install()

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR  # noqa: E402

COMMON_ARGS = dict(
    state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
)


def argument_spec(**specific: dict) -> dict:
    return dict(COMMON_ARGS, **specific)


def network_type_choices() -> list[str]:
    """The values of a `driver` (or a driver's `name`) parameter: every network type and its aliases."""
    return registry.type_names()


def network_option_specs() -> dict[str, dict]:
    """The argument specs of the network options of every driver (drivers/*.py's option tables)."""
    return {name: option.spec for name, option in registry.network_options().items()}


def endpoint_option_specs(item: bool = False) -> dict[str, dict]:
    """The argument specs of the endpoint options of every driver. In an item of a list (`endpoints`),
    an option with suboptions is taken whole: pynet checks it, and its errors name the item."""
    specs = {name: dict(option.spec) for name, option in registry.endpoint_options().items()}
    if item:
        for spec in specs.values():
            spec.pop("options", None)
    return specs


def run(module, converge: Callable, read_only: bool = False) -> None:
    """Call converge(controller) -> Result (converge/diff.py) and exit the AnsibleModule `module` with it.

    In check mode, and for a read-only module, a state directory that does not exist is
    not created: it reads as empty.

    A PynetError is a user's mistake or a refusal: it fails the task with its message (naming
    the parameter), never with a traceback.
    """
    from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
    try:
        controller = Controller(state_dir=module.params["state_dir"], create=not (read_only or module.check_mode))
        try:
            result = converge(controller)
        finally:
            controller.close()
    except errors.PynetError as exc:
        module.fail_json(msg=str(exc), param=exc.param)
    except OSError as exc:
        module.fail_json(msg="the kernel or the file system refused: %s" % exc, exception=traceback.format_exc())
    for warning in result.warnings:
        module.warn(warning)
    module.exit_json(**result.as_dict())
