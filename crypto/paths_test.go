package crypto

type testPath struct {
	name string
	set  func() (restore func())
}

// testPaths lists the implementations this machine can run.
func testPaths() []testPath {
	use := func(on bool) func() func() {
		return func() func() {
			old := useAVX512
			useAVX512 = on
			return func() { useAVX512 = old }
		}
	}
	paths := []testPath{{"ref", use(false)}}
	if hasAVX512 {
		paths = append(paths, testPath{"avx512", use(true)})
	}
	return paths
}
