"""Extra cost of an unmanaged import with the prestage finder installed (goal: <= 5 us).

Usage: /usr/bin/python3 bench/bench_import_overhead.py
Uses a running daemon (PRESTAGE_STATE_DIR) when there is one; otherwise a finder without a
client, which takes the same in-memory hot path (the client is only used when caches are stale)."""
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pyclient"))
from prestage._client import Client, default_state_dir, read_server_json  # noqa: E402
from prestage._finder import PrestageFinder  # noqa: E402


def make_finder():
    info = read_server_json(default_state_dir())
    client = Client(info, default_state_dir()) if info else None
    finder = PrestageFinder(client)
    finder.find_spec("warm_up_the_caches")
    return finder, client is not None


def per_call_us(finder, count=200_000):
    names = [f"not_managed_{i % 1000}" for i in range(count)]
    start = time.perf_counter()
    for name in names:
        finder.find_spec(name, None)
    return (time.perf_counter() - start) / count * 1e6


def import_cost_us(finder, modules=300, rounds=5):
    """Mean time to import `modules` fresh .py modules, with and without the finder at meta_path[0]."""
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for index in range(modules):
            Path(directory, f"bench_plain_{index}.py").write_text("X = 1\n")
        sys.path.insert(0, directory)
        for label in ("without", "with", "without", "with") * rounds:
            if label == "with":
                sys.meta_path.insert(0, finder)
            names = [f"bench_plain_{i}" for i in range(modules)]
            start = time.perf_counter()
            for name in names:
                __import__(name)
            elapsed = time.perf_counter() - start
            for name in names:
                del sys.modules[name]
            if label == "with":
                sys.meta_path.remove(finder)
            results.setdefault(label, []).append(elapsed / modules * 1e6)
        sys.path.remove(directory)
    return min(results["without"]), min(results["with"])


def main():
    finder, with_daemon = make_finder()
    hot = per_call_us(finder)
    without, with_finder = import_cost_us(finder)
    print(f"daemon: {'yes' if with_daemon else 'no (hot path only)'}")
    print(f"find_spec for an unmanaged name: {hot:.2f} us per call (goal <= 5 us)")
    print(f"import of a plain .py module: {without:.1f} us without, {with_finder:.1f} us with the finder "
          f"(+{with_finder - without:.2f} us)")
    return 0 if hot <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
