"""python -m prestage status | open PATH | build PATH | log PATH | stop"""
import json
import os
import sys

import prestage
from prestage._client import Client, default_state_dir

USAGE = "usage: python -m prestage status | open PATH | build PATH | log PATH | stop"


def _project_id(path):
    if not os.path.exists(path):
        raise SystemExit(f"prestage: {path} does not exist")
    return prestage.open(path)["id"]


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, arguments = argv[0], argv[1:]
    expected = {"status": 0, "stop": 0, "open": 1, "build": 1, "log": 1}
    if command not in expected:
        print(f"prestage: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    if len(arguments) != expected[command]:
        print(f"prestage: {command} takes {expected[command]} argument(s)\n{USAGE}", file=sys.stderr)
        return 2
    try:
        if command == "stop":
            client = Client.connect(default_state_dir(), autostart=False)
            client.call("shutdown")
            print("prestage: daemon stopped")
        elif command == "status":
            projects = prestage.status()
            if not projects:
                print("prestage: no open projects")
            for project in projects:
                last = project.get("last_build") or {}
                print(f"{project.get('id')}  {project.get('kind'):9}  {project.get('state'):8}  "
                      f"gen {project.get('generation')}  ok={last.get('ok')}  {project.get('root')}")
        elif command == "open":
            print(json.dumps(prestage.open(arguments[0]), indent=2))
        elif command == "build":
            print(json.dumps(prestage.connect().call("build/run", {"id": _project_id(arguments[0])})))
        elif command == "log":
            result = prestage.connect().call("build/log", {"id": _project_id(arguments[0])})
            print(f"generation {result.get('generation')} ok={result.get('ok')}")
            print(result.get("log") or "")
    except prestage.DaemonUnavailable as error:
        print(error, file=sys.stderr)
        return 3
    except prestage.PrestageError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
