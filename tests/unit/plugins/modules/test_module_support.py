"""How every module reports results and user mistakes (AnsibleModule stubbed)."""

from __future__ import annotations

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import diff, info


class Exited(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


class FakeModule:
    def __init__(self, state_dir, check_mode=False):
        self.params = {"state_dir": state_dir}
        self.check_mode = check_mode
        self.warnings = []

    def exit_json(self, **result):
        raise Exited("exit", result)

    def fail_json(self, **result):
        raise Exited("fail", result)

    def warn(self, message):
        self.warnings.append(message)


def test_result_with_diff_and_warnings(tmp_path):
    module = FakeModule(str(tmp_path / "state"))

    def converge_fn(controller):
        result = diff.Result(True, {"a": 1}, {"a": 2}, thing={"name": "x"})
        result.warnings.append("careful")
        return result

    with pytest.raises(Exited) as exited:
        module_support.run(module, converge_fn)
    assert exited.value.kind == "exit"
    assert exited.value.result == {"changed": True, "diff": {"before": {"a": 1}, "after": {"a": 2}},
                                   "thing": {"name": "x"}}
    assert module.warnings == ["careful"]


def test_user_mistake_fails_with_message_and_param_no_traceback(tmp_path):
    module = FakeModule(str(tmp_path / "state"))

    def converge_fn(controller):
        raise errors.InvalidParameterError("ipam[0].subnet", "'x' is not a CIDR subnet")

    with pytest.raises(Exited) as exited:
        module_support.run(module, converge_fn)
    assert exited.value.kind == "fail"
    assert exited.value.result == {"msg": "ipam[0].subnet: 'x' is not a CIDR subnet", "param": "ipam[0].subnet"}


def test_report_has_no_diff():
    assert diff.Result.report(networks=[]).as_dict() == {"changed": False, "networks": []}


@pytest.mark.parametrize("check_mode, read_only", [(True, False), (False, True)])
def test_check_mode_and_reading_create_no_state_dir(tmp_path, check_mode, read_only):
    module = FakeModule(str(tmp_path / "state"), check_mode=check_mode)
    with pytest.raises(Exited) as exited:
        module_support.run(module, info.gather_info, read_only=read_only)
    assert exited.value.result["networks"] == [] and exited.value.result["exists"] is False
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_state_dir_that_is_a_file_is_named(tmp_path, check_mode):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(Exited) as exited:
        module_support.run(FakeModule(str(tmp_path / "file"), check_mode=check_mode),
                           lambda controller: pytest.fail("must not run"))
    assert exited.value.result["param"] == "state_dir"
    assert exited.value.result["msg"].startswith("state_dir: %s exists and is not a directory" % (tmp_path / "file"))
