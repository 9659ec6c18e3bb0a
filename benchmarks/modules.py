"""pynet's Ansible modules as Ansible runs them: ansible-playbook on localhost (connection: local),
the collection found through ANSIBLE_COLLECTIONS_PATH, and a module run alone on its arguments.

Everything runs as child processes of the benchmark, in its private namespaces.
"""

from __future__ import annotations

import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
MODULES = "ansible_collections.pynet.libnetwork.plugins.modules."
# Lines kept of a playbook's output: enough for an error and the recap.
TAIL = 60
PlaybookRun = collections.namedtuple("PlaybookRun", "wall item_times changed")


class Ansible:
    """ansible-playbook runs with the collection of this checkout, temporary files under `work`."""

    def __init__(self, collection, work):
        self.collection = collection
        self.work = work
        self.command = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        if not os.access(self.command, os.X_OK):
            sys.exit("%s is missing: run the benchmark with the project's virtualenv (benchmarks/run.sh)"
                     % self.command)
        temp = os.path.join(work, "ansible-tmp")
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection, ANSIBLE_LOCAL_TEMP=temp,
                        ANSIBLE_REMOTE_TEMP=temp, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")

    def playbook(self, name, variables, progress=None):
        """Run playbooks/<name> with `variables` as extra vars; wall time, the moment each loop item
        was reported (the output is read as it comes), and the recap's changed count.

        progress(done) is called after each loop item."""
        vars_file = os.path.join(self.work, "vars.json")
        with open(vars_file, "w", encoding="utf-8") as out:
            json.dump(variables, out)
        command = [self.command, "-i", "localhost,", "-e", "@" + vars_file, os.path.join(PLAYBOOKS, name)]
        item_times = []
        tail = collections.deque(maxlen=TAIL)
        start = time.perf_counter()
        with subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as process:
            for line in process.stdout:
                if "(item=" in line:
                    item_times.append(time.perf_counter())
                    if progress:
                        progress(len(item_times))
                tail.append(line)
        wall = time.perf_counter() - start
        output = "".join(tail)
        recap = re.search(r"^localhost\s*:.*\bchanged=(\d+).*\bfailed=0\b", output, re.MULTILINE)
        if process.returncode != 0 or recap is None:
            raise RuntimeError("%s failed (exit %d):\n%s" % (name, process.returncode, output))
        return PlaybookRun(wall, item_times, int(recap.group(1)))

    def module_process_time(self, module, args, runs=5):
        """A module run alone, as AnsiballZ would start it (its arguments on stdin): the median CPU
        time (user + system) and wall time of `runs` runs. The run must change nothing."""
        command = [sys.executable, "-m", MODULES + module]
        env = dict(os.environ, PYTHONPATH=self.collection)
        cpu, wall = [], []
        for unused_run in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), env=env, text=True,
                                  capture_output=True, check=False)
            wall.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if done.returncode != 0 or json.loads(done.stdout).get("changed") is not False:
                raise RuntimeError("%s with nothing to change: exit %d, %s %s"
                                   % (module, done.returncode, done.stdout, done.stderr))
        return statistics.median(cpu), statistics.median(wall)
