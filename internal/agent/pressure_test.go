package agent

import "testing"

func TestPressure(t *testing.T) {
	ok := usage{memAvailable: 1 << 30, diskAvail: 50, diskTotal: 100, inodesFree: 50, inodesTotal: 100, tasks: 500, pidMax: 32768}
	cases := []struct {
		name string
		edit func(*usage)
		want pressure
	}{
		{"healthy", func(*usage) {}, pressure{}},
		{"memory below 100Mi", func(u *usage) { u.memAvailable = 99 << 20 }, pressure{memory: true}},
		{"memory unknown", func(u *usage) { u.memAvailable = -1 }, pressure{}},
		{"disk below 10%", func(u *usage) { u.diskAvail = 9 }, pressure{disk: true}},
		{"inodes below 5%", func(u *usage) { u.inodesFree = 4 }, pressure{disk: true}},
		{"pids below 5%", func(u *usage) { u.tasks = 32000 }, pressure{pid: true}},
		{"nothing readable", func(u *usage) { *u = usage{memAvailable: -1} }, pressure{}},
	}
	for _, c := range cases {
		u := ok
		c.edit(&u)
		if got := u.pressure(); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if u := measureUsage(t.TempDir()); u.memAvailable <= 0 || u.diskTotal == 0 || u.pidMax == 0 || u.tasks == 0 {
		t.Errorf("measured %+v", u)
	}
}
