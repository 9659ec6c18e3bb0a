# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI plugin's parts; its entry point is module_utils/cni.py, exec'd by container runtimes as

    python3 -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni

protocol.py reads the call and shapes the answer with the standard library alone; verbs.py does ADD,
DEL, CHECK, GC and STATUS through the library's public API; zipapp.py builds the plugin as one
executable file.
"""
