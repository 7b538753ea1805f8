"""What the host simulations share: a C++ program made of kernel text cut from an emitted .cu file, built with g++ and
run, and a command line of .cu files (part_tree_sim.py, loader_sim.py, job_schedule_sim.py, online_softmax_sim.py)."""
import os
import re
import subprocess
import sys
import tempfile


def int_constants(source):
    """The emitted file's `constexpr int kName = value;` lines (its tile and shape constants), for a program's head."""
    return "\n".join(re.findall(r"^constexpr int k\w+ = -?\d+;.*$", source, re.M))


def run_program(program, std="c++17", flags=()):
    """Builds `program` with g++ -O1 and runs it: (exit code, what it printed)."""
    with tempfile.TemporaryDirectory() as folder:
        cpp, exe = os.path.join(folder, "program.cpp"), os.path.join(folder, "program")
        with open(cpp, "w") as f:
            f.write(program)
        subprocess.run(["g++", f"-std={std}", "-O1", *flags, "-o", exe, cpp], check=True)
        run = subprocess.run([exe], capture_output=True, text=True)
    return run.returncode, run.stdout.strip()


def main(doc, simulate):
    """Simulates every .cu file named on the command line; exits 1 if any fails, with the usage text if none is named."""
    if len(sys.argv) < 2:
        sys.exit(doc)
    sys.exit(0 if all([simulate(p) for p in sys.argv[1:]]) else 1)
