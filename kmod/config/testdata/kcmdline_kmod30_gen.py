# Generates kcmdline_kmod30.json: each input bind-mounted over /proc/cmdline in a private
# mount namespace, then kmod 30 `modprobe -c` (loads nothing). Run as root:
#   unshare -m python3 kcmdline_kmod30_gen.py
import json, os, random, subprocess, sys
random.seed(5)
cases = [
 "a.b=1 c.d", "mod-x.p=1", 'a.b.c=1 x.y="1 2" z.w="3', '"q.r=1 2" "s.t"=1 u."v"=2',
 "modprobe.blacklist=a,,b modprobe.x", "a.b=\tc=d\x00e.f=g", "=x.y .z a.=1 b.c= d.e==",
 "", " ", "\n", "a.b", "a.b\n", 'a.b="x y', 'a.b="x y"', 'a.b="x"y z', '"a.b=x" y.z=1',
 '"a.b="x y"" c.d', 'a"b.c=1', 'a.b"c=1', "modprobe.blacklist=", "modprobe.blacklist=x modprobe.blacklist=y,z",
 "x-y[1].z=2", "x[1-2].z=2", "x]y.z=1", "a.b=1\ta.c=2\ra.d=3\va.e=4\fa.f=5", '"".a=1', '""a.b=1',
 'a.b="1" "c.d=2 3"', "a..b=1", ".a=1", "a.=", "a.b==c=d", "a.b=c.d", "MOD.Param=VAL", "a.b c.d e",
 "a.b\x00c.d", 'x="a.b=1"', '"a.b=1', 'a.b=1"', "modprobe.blacklist=a\tb", "modprobe.blacklistx=1",
 "BOOT_IMAGE=/vmlinuz-6.1 root=UUID=x ro quiet splash usbcore.autosuspend=-1 snd-hda-intel.model=auto",
 "a.b=" + "x"*5000,
]
alpha = ['a', 'b', '-', '.', '.', '=', '=', '"', '"', ' ', ' ', '\t', '[', ']', ',', 'modprobe', 'blacklist', '\n', 'x1']
for i in range(400):
    cases.append("".join(random.choice(alpha) for _ in range(random.randint(1, 14))))
os.makedirs("/tmp/kc/empty", exist_ok=True)
os.makedirs("/tmp/kc/root/lib/modules/1.0", exist_ok=True)
out = []
for c in cases:
    with open("/tmp/kc/cl", "wb") as f:
        f.write(c.encode("latin-1"))
    subprocess.run(["mount", "--bind", "/tmp/kc/cl", "/proc/cmdline"], check=True)
    r = subprocess.run(["modprobe", "-c", "-C", "/tmp/kc/empty", "-d", "/tmp/kc/root", "-S", "1.0"], capture_output=True)
    subprocess.run(["umount", "/proc/cmdline"], check=True)
    so = r.stdout.decode("latin-1")
    tail = "\n# End of configuration files. Dumping indexes now:\n\n"
    assert so.endswith(tail), so
    out.append({"in": c, "out": so[:-len(tail)], "err": r.stderr.decode("latin-1")})
with open("/tmp/kc/kcmdline_kmod30.json", "w") as f:
    for o in out:
        f.write(json.dumps(o) + "\n")
print(len(out))
