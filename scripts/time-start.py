"""Start-up time of commands answering CNI VERSION, run in turns so that load drift hits all alike.

Used by `scripts/build.mjs --measure` and `scripts/build-sea.mjs --measure`. Arguments are
label=path pairs; each path is run with CNI_COMMAND=VERSION, except that the label "node -e 0"
runs `<path> -e 0` (Node's own start, the floor for any Node program).
Prints the median and minimum of 40 runs each, after one warm-up round.
"""
import os
import statistics
import subprocess
import sys
import time

commands = {}
for pair in sys.argv[1:]:
    label, _, path = pair.partition("=")
    commands[label] = [path, "-e", "0"] if label == "node -e 0" else [path]
env = dict(os.environ, CNI_COMMAND="VERSION")
samples = {label: [] for label in commands}
for round in range(41):
    for label, cmd in commands.items():
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, input=b'{"cniVersion":"1.0.0"}', stdout=subprocess.DEVNULL, check=True)
        if round > 0:
            samples[label].append((time.perf_counter() - t0) * 1000)
width = max(len(label) for label in commands)
for label, s in samples.items():
    print(f"{label:{width}}  median {statistics.median(s):6.1f} ms  min {min(s):6.1f} ms  ({len(s)} runs)")
