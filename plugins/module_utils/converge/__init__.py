# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declared state made real: what the Ansible modules do, one module per resource.

drivers, networks, sandboxes and endpoints each hold the ensure_* functions of their module, info
the read-only pynet_info; diff.py is the one place that compares what is asked with what is there
and shapes results (Result) and their before/after views. Each ensure_* function takes the module's
parameters and check_mode and returns a Result; in check mode nothing is changed, and addresses a real
run would allocate are predicted in a transaction that is rolled back. Every parameter is validated
before the first change. None of them runs SQL: they go through the controller.
"""
