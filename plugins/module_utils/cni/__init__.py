# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet as a CNI plugin (spec 1.1.0; 0.4.0 and 1.0.0 configs too), exec'd by container runtimes:

    python3 -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni

protocol.py reads the call and shapes the answer with the standard library alone; plugin.py runs
it (VERSION and bad calls cost no import of pynet's library); verbs.py does ADD, DEL, CHECK, GC and
STATUS through the library; seam.py holds what the plugin needs of the library beyond its public
API; zipapp.py builds the plugin as one executable file.
"""
