"""Start-up times, best of R fresh interpreters, against `import numpy` measured in the same run.

    python benchmarks/startup.py [--repeat 5]

Rows: `import wgf`, `wgf --help` (as `python -m wgf --help`), and POT imported as wgf imports it
(its torch, jax, tensorflow and cupy backends switched off, wgf.validation.distances) against a bare
`import ot`, which imports every backend it finds installed.
"""

import argparse
import os
import subprocess
import sys
import time

OFF = {key: "1" for key in ("POT_BACKEND_DISABLE_PYTORCH", "POT_BACKEND_DISABLE_JAX",
                            "POT_BACKEND_DISABLE_TENSORFLOW", "POT_BACKEND_DISABLE_CUPY")}
CASES = [
    ("import numpy (baseline)", ["-c", "import numpy"], {}),
    ("import wgf", ["-c", "import wgf"], {}),
    ("wgf --help", ["-m", "wgf", "--help"], {}),
    ("import ot, as wgf does (backends off)", ["-c", "import ot"], OFF),
    ("import ot, bare", ["-c", "import ot"], {}),
]


def best(args, env, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    installed = [m for m in ("torch", "jax", "tensorflow", "cupy")
                 if subprocess.run([sys.executable, "-c", f"import {m}"], capture_output=True).returncode == 0]
    print(f"heavy array libraries installed: {', '.join(installed) or 'none'}")
    results = {name: best(a, env, args.repeat) for name, a, env in CASES}
    base = results["import numpy (baseline)"]
    for name, t in results.items():
        print(f"{name:40s} {t:6.2f} s   {t / base:5.1f}x numpy")
    print(f"POT as wgf imports it: {results['import ot, bare'] / results['import ot, as wgf does (backends off)']:.1f}x "
          "faster than a bare import")


if __name__ == "__main__":
    main()
