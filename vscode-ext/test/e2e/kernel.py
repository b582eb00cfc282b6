"""A kernel stand-in for the e2e test: the real prestage client and the notebook extension's reloader.

argv: pyclient dir, package source dir, module name. The daemon comes from PRESTAGE_STATE_DIR.
Prints one JSON line once the module is imported, then one after the first reload/requested has
been handled the way `%load_ext prestage` handles it before a cell."""
import json
import sys
import time

pyclient, source_dir, module_name = sys.argv[1:4]
sys.path.insert(0, pyclient)
sys.path.insert(0, source_dir)

import prestage  # noqa: E402
from prestage.ipython import NotebookReloader  # noqa: E402

finder = prestage.install()
if not prestage._push.connected.wait(60):
    sys.exit("kernel: the push channel did not connect")
module = __import__(module_name)


def report(**fields):
    fields.update(num=module.get_num(), generation=finder.state.generation_by_module.get(module_name))
    print(json.dumps(fields), flush=True)


report(ready=True)
deadline = time.monotonic() + 600
while not finder.pending_reload_projects:
    if time.monotonic() > deadline:
        sys.exit("kernel: no reload/requested within 600 s")
    time.sleep(0.05)
requested = sorted(finder.pending_reload_projects)
NotebookReloader(None).pre_run_cell()  # what runs before the next cell
report(requested=requested)
