package strongswan

import "testing"

func TestLogLevels(t *testing.T) {
	if got, want := logLevels(1, nil), "      ike = 1\n      cfg = 2\n      chd = 1\n      net = 1\n"; got != want {
		t.Errorf("default levels:\n%s\nwant\n%s", got, want)
	}
	got := logLevels(2, map[string]int{"net": 4, "enc": 4, "ike": 3})
	if want := "      ike = 3\n      cfg = 2\n      chd = 2\n      net = 4\n      enc = 4\n"; got != want {
		t.Errorf("overridden levels:\n%s\nwant\n%s", got, want)
	}
}

func TestChildListOldestFirst(t *testing.T) {
	sa := IKESA{Children: map[string]ChildSA{"net-10": {UniqueID: "10"}, "net-9": {UniqueID: "9"}, "net-11": {UniqueID: "11"}}}
	var ids []string
	for _, c := range sa.ChildList() {
		ids = append(ids, c.UniqueID)
	}
	if len(ids) != 3 || ids[0] != "9" || ids[1] != "10" || ids[2] != "11" {
		t.Errorf("ChildList order %v, want [9 10 11]", ids)
	}
	if plugins(nil) != "" || plugins([]string{"md5"}) != " md5" {
		t.Errorf("plugins: %q %q", plugins(nil), plugins([]string{"md5"}))
	}
}
