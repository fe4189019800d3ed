# Generates modprobe_d_kmod30.json: random modprobe.d files (commands, words, blanks,
# continuations) through kmod 30 `modprobe -c -C DIR` with an empty /proc/cmdline
# bind-mounted in a private mount namespace (loads nothing). Run as root:
#   unshare -m python3 modprobe_d_kmod30_gen.py
import json, os, random, subprocess
random.seed(9)
cmds = ["alias", "blacklist", "options", "install", "remove", "softdep", "weakdep", "include", "config", "#", "bogus", ""]
words = ["a-b", "m_1", "pre:", "post:", "x[0-9]", "y]", "z[", "--", "snd-*", "q=1", "r=\"s t\"", "\\", "#c"]
seps = [" ", "  ", "\t", " \t", "\t\t", " \\\n", "\\\n"]
def line():
    parts = [random.choice(cmds)] + [random.choice(words) for _ in range(random.randint(0, 5))]
    s = random.choice(["", "", "", " ", "\t"])
    for i, p in enumerate(parts):
        s += p
        if i < len(parts) - 1 or random.random() < 0.2:
            s += random.choice(seps)
    return s
cases = []
for i in range(300):
    cases.append("\n".join(line() for _ in range(random.randint(1, 6))) + random.choice(["\n", "", "\\"]))
os.makedirs("/tmp/kcfg/d", exist_ok=True)
os.makedirs("/tmp/kcfg/root/lib/modules/1.0", exist_ok=True)
open("/tmp/kcfg/empty", "w").close()
subprocess.run(["mount", "--bind", "/tmp/kcfg/empty", "/proc/cmdline"], check=True)
out = []
for c in cases:
    with open("/tmp/kcfg/d/case.conf", "wb") as f:
        f.write(c.encode("latin-1"))
    r = subprocess.run(["modprobe", "-c", "-C", "/tmp/kcfg/d", "-d", "/tmp/kcfg/root", "-S", "1.0"], capture_output=True)
    out.append({"in": c, "out": r.stdout.decode("latin-1"), "err": r.stderr.decode("latin-1")})
subprocess.run(["umount", "/proc/cmdline"], check=True)
with open("/tmp/kcfg/modprobe_d_kmod30.json", "w") as f:
    for o in out:
        f.write(json.dumps(o) + "\n")
print(len(out), sum(1 for o in out if o["err"]), sum(1 for o in out if len(o["out"]) > 60))
