"""What the host simulations share: a C++ program made of kernel text cut from an emitted .cu file, built with g++ and
run, and a command line of .cu files (part_tree_sim.py, loader_sim.py, job_schedule_sim.py, online_softmax_sim.py,
write_jobs_sim.py, q_copy_sim.py, ldmatrix_address_sim.py, split_combine_sim.py)."""
import os
import re
import subprocess
import sys
import tempfile

# A warp's lanes as host threads: a barrier of the 32 (a sim's shuffles exchange through slots between two of them), and
# the mutex the sims also guard their shared counts with.
WARP_BARRIER = r"""static std::mutex mutex;
static std::condition_variable turned;
static int arrived = 0, generation = 0;
static void warp_barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    int mine = generation;
    if (++arrived == 32) { arrived = 0; ++generation; turned.notify_all(); }
    else turned.wait(lock, [&] { return generation != mine; });
}"""


def int_constants(source):
    """The emitted file's `constexpr int kName = value;` lines (its tile and shape constants), for a program's head."""
    return "\n".join(re.findall(r"^constexpr int k\w+ = -?\d+;.*$", source, re.M))


def cut_function(source, signature):
    """The text of the function whose definition starts at `signature` (template line included), braces balanced."""
    start = source.index(signature)
    template = source.rfind("template <int kCount>", 0, start)
    if template != -1 and source[template:start].strip() == "template <int kCount>":
        start = template
    depth, i = 0, source.index("{", source.index(signature))
    while True:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
        if depth == 0:
            return source[start:i] + "\n"


def constant(source, name):
    """The value of the emitted file's `constexpr int` of that name."""
    return int(re.search(r"constexpr int %s = (-?\d+);" % name, source).group(1))


def run_program(program, std="c++17", flags=(), timeout=300):
    """Builds `program` with g++ -O1 and runs it: (exit code, what it printed); a run past `timeout` seconds (threads
    deadlocked on a barrier) fails."""
    with tempfile.TemporaryDirectory() as folder:
        cpp, exe = os.path.join(folder, "program.cpp"), os.path.join(folder, "program")
        with open(cpp, "w") as f:
            f.write(program)
        subprocess.run(["g++", f"-std={std}", "-O1", *flags, "-o", exe, cpp], check=True)
        try:
            run = subprocess.run([exe], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 1, f"no end after {timeout} s (deadlocked?)"
    return run.returncode, run.stdout.strip()


def run_threads(path, program, summary):
    """Builds and runs a program whose CUDA threads are host threads (C++20, -pthread); prints the .cu file's name, the
    summary and what the program printed; true where it passed."""
    code, printed = run_program(program, std="c++20", flags=("-pthread",))
    print(f"{os.path.basename(path)}: {summary}: {printed}")
    return code == 0


def main(doc, simulate):
    """Simulates every .cu file named on the command line; exits 1 if any fails, with the usage text if none is named."""
    if len(sys.argv) < 2:
        sys.exit(doc)
    sys.exit(0 if all([simulate(p) for p in sys.argv[1:]]) else 1)
