package config

import (
	"io"
	"testing"
	"time"
)

// FuzzConfig feeds arbitrary bytes to the modprobe.d, depmod.d and kernel command line
// parsers: they must never panic.
//
//	go test -run='^$' -fuzz=FuzzConfig -fuzztime=30s ./kmod/config/
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"alias a-b c\nsoftdep m  pre: x post: y\noptions o\ta=1\ninstall i \\\n cmd\\",
		"search updates built-in\noverride m * extra\nexternal * /x\nexclude a b\n",
		"\"parport.dyndbg=file a +p\" modprobe.blacklist=a,b x[1.y=2",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan bool)
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic("FuzzConfig: one input ran for 10 s: a hang")
			}
		}()
		var c Config
		c.parse("fuzz.conf", data, true, len(data)%2 == 0) // both line readers
		c.parseKcmdline(data)
		if err := c.WriteConfig(io.Discard); err != nil {
			t.Fatal(err)
		}
		var d DepmodConfig
		d.parse("fuzz.conf", data, "6.1.0")
		d.Prefers("/lib/modules/6.1.0", "/lib/modules/6.1.0/kernel/a.ko", "/lib/modules/6.1.0/updates/a-b.ko.xz")
	})
}
