# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every pynet module shares: common arguments, errors and results."""

from __future__ import annotations

import traceback

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors

COMMON_ARGS = dict(
    state_dir=dict(type="path", default="/var/lib/pynet"),
)


def argument_spec(**specific):
    return dict(COMMON_ARGS, **specific)


def run(module, converge, read_only=False):
    """Call converge(controller) -> Result and exit the module with it.

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
